package s3

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/cache/cachetest"
)

func TestCompliance(t *testing.T) {
	g := startGateway(t)
	var mu sync.Mutex
	buckets := map[string]Options{} // the suite's folder → its bucket
	start := time.Now()
	cachetest.Run(t, func(t *testing.T, dir string) cache.Store {
		mu.Lock()
		opts, ok := buckets[dir]
		if !ok {
			opts = g.newBucket(t)
			buckets[dir] = opts
		}
		mu.Unlock()
		s, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	t.Logf("compliance suite against versitygw: %v", time.Since(start))
}

func TestClosedStoreFails(t *testing.T) {
	s := openStore(t, startGateway(t).newBucket(t))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, errCreate := s.CreateFile(testKey)
	_, errOpen := s.OpenFile(testKey)
	errWalk := s.WalkFiles(func(string, int64) error { return nil })
	errNeg := s.PutNegative("0123456789abcdfghijklmnpqrsvwxyz")
	for _, err := range []error{errCreate, errOpen, errWalk, errNeg} {
		if !errors.Is(err, cache.ErrStorage) {
			t.Errorf("after Close: %v, want an error wrapping cache.ErrStorage", err)
		}
	}
}

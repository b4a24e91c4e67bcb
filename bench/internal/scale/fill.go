package scale

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/cache/disk"
)

// FillResult is what filling a fresh store found.
type FillResult struct {
	NarInfos        int     `json:"narinfos"`
	NARs            int     `json:"nars"`
	GenerateSeconds float64 `json:"generate_seconds"` // not part of any rate
	NARSeconds      float64 `json:"nar_seconds"`      // CreateFile, Write, Commit of every NAR
	PutSeconds      float64 `json:"put_seconds"`      // PutNarInfo of every narinfo
	CloseSeconds    float64 `json:"close_seconds"`    // Close after the puts: the index made durable
	// InsertPerSecond is narinfos per second from the first put until
	// Close returned, when every one is durable.
	InsertPerSecond float64 `json:"insert_per_second"`
	IndexBytes      int64   `json:"index_bytes"` // of index.db after Close
	BytesPerNarInfo float64 `json:"index_bytes_per_narinfo"`
}

// NARCount is how many of n paths get a stored NAR file: a tenth.
func NARCount(n int) int { return max(n/10, 1) }

// NARWriters commit NAR files at once, so that commits gather in batches
// as many fills finishing together do.
const NARWriters = 16

// Fill generates the n narinfos of g up front (untimed), then stores a
// NAR file for the first tenth and every narinfo through the package API
// into a fresh store in dir, and closes it.
func Fill(dir string, g *Generator) (FillResult, error) {
	res := FillResult{NarInfos: g.N(), NARs: NARCount(g.N())}
	start := time.Now()
	entries, err := generate(g)
	if err != nil {
		return res, err
	}
	res.GenerateSeconds = time.Since(start).Seconds()

	c, err := disk.Open(disk.Options{Dir: dir})
	if err != nil {
		return res, err
	}
	start = time.Now()
	if err := storeNARs(c, g, entries[:res.NARs]); err != nil {
		c.Close()
		return res, err
	}
	res.NARSeconds = time.Since(start).Seconds()

	start = time.Now()
	for i := range entries {
		if err := c.PutNarInfo(entries[i]); err != nil {
			c.Close()
			return res, err
		}
		entries[i] = cache.NarInfoEntry{} // the store holds what it needs
	}
	res.PutSeconds = time.Since(start).Seconds()
	closeStart := time.Now()
	if err := c.Close(); err != nil {
		return res, err
	}
	res.CloseSeconds = time.Since(closeStart).Seconds()
	res.InsertPerSecond = float64(g.N()) / time.Since(start).Seconds()
	info, err := os.Stat(filepath.Join(dir, "index.db"))
	if err != nil {
		return res, err
	}
	res.IndexBytes = info.Size()
	res.BytesPerNarInfo = float64(info.Size()) / float64(g.N())
	return res, nil
}

// generate makes every entry of g, signing on every core.
func generate(g *Generator) ([]cache.NarInfoEntry, error) {
	entries := make([]cache.NarInfoEntry, g.N())
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(entries); i += workers {
				e, err := g.Entry(i)
				if err != nil {
					errs[w] = fmt.Errorf("generate narinfo %d: %w", i, err)
					return
				}
				entries[i] = e
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return entries, nil
}

// storeNARs writes and commits the NAR file of each entry, NARWriters at once.
func storeNARs(c cache.Files, g *Generator, entries []cache.NarInfoEntry) error {
	next := make(chan int)
	errs := make(chan error, NARWriters)
	var wg sync.WaitGroup
	for range NARWriters {
		wg.Go(func() {
			for i := range next {
				if err := storeNAR(c, entries[i].Key, g.NARContent(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for i := range entries {
		select {
		case next <- i:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil && len(errs) > 0 {
		err = <-errs
	}
	return err
}

func storeNAR(c cache.Files, key string, content []byte) error {
	w, err := c.CreateFile(key)
	if err != nil {
		return err
	}
	defer w.Cancel()
	if _, err := w.Write(content); err != nil {
		return err
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("commit nar %s: %w", key, err)
	}
	return nil
}

package main

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

func openTestPushStore(t *testing.T) *pushStore {
	t.Helper()
	dir := t.TempDir()
	c, err := disk.Open(disk.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ages, err := openPushAges(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ages.Close(); c.Close() })
	return newPushStore(c, ages)
}

// storeNAR commits a NAR file named name holding size bytes.
func storeNAR(t *testing.T, s *pushStore, name string, size int) {
	t.Helper()
	w, err := s.CreateNAR(name)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	if _, err := w.Write([]byte(strings.Repeat("n", size))); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// pushedAt stores a narinfo of a path naming nar and returns when it was stored.
func pushedAt(t *testing.T, s *pushStore, hashPart, nar string) time.Time {
	t.Helper()
	up := newRawUpload(t, 10)
	up.narinfo.StorePath = "/nix/store/" + hashPart + "-x"
	up.narinfo.URL = "nar/" + nar
	if err := s.PutNarInfo(up.narinfo, nar); err != nil {
		t.Fatal(err)
	}
	old, err := s.ages.olderThan(time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range old {
		if p.hashPart == hashPart {
			return time.Unix(0, p.at)
		}
	}
	t.Fatalf("no age recorded for %s", hashPart)
	return time.Time{}
}

func testHashPart(c byte) string {
	return nixbase32.EncodeToString([]byte(strings.Repeat(string(c), 20)))
}

// TestExpiryNarInfoFirstThenUnnamedNARs steps the expiry by hand: an old
// narinfo goes first; its NAR file stays while a younger narinfo names
// it, and goes a step after the last one naming it went.
func TestExpiryNarInfoFirstThenUnnamedNARs(t *testing.T) {
	s := openTestPushStore(t)
	narX, narY := strings.Repeat("x", 52)+".nar", strings.Repeat("y", 52)+".nar"
	storeNAR(t, s, narX, 100)
	storeNAR(t, s, narY, 50)
	a, b, c := testHashPart('a'), testHashPart('b'), testHashPart('c')
	pushedAt(t, s, a, narX)
	atB := pushedAt(t, s, b, narX)
	pushedAt(t, s, c, narY)
	const maxAge = time.Hour
	e := &expiry{s: s, maxAge: maxAge, log: slog.New(slog.DiscardHandler)}

	step := func(now time.Time) {
		t.Helper()
		if err := e.step(now); err != nil {
			t.Fatal(err)
		}
	}
	served := func(hashPart string) bool {
		_, err := s.NarInfo(hashPart)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	}
	// Only a is older than b's push.
	step(atB.Add(maxAge))
	if served(a) || !served(b) || !served(c) {
		t.Fatalf("after one step: a %v b %v c %v; want only a gone", served(a), served(b), served(c))
	}
	step(atB.Add(maxAge))
	if !s.HasNAR(narX) {
		t.Fatal("a NAR file another narinfo names was removed")
	}
	far := time.Now().Add(2 * maxAge)
	step(far)
	if served(b) || served(c) {
		t.Fatal("narinfos older than the age are served")
	}
	if !s.HasNAR(narX) || !s.HasNAR(narY) {
		t.Fatal("NAR files removed in the step that unlisted their narinfos")
	}
	step(far)
	for _, nar := range []string{narX, narY} {
		if s.HasNAR(nar) {
			t.Errorf("%s kept after its last narinfo expired", nar)
		}
		if _, err := os.Stat(filepath.Join(s.c.Dir(), "nar", nar[:2], nar)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still on disk: %v", nar, err)
		}
	}
	if got := s.Size(); got != 0 {
		t.Errorf("Size %d after every file expired", got)
	}
	// A NAR uploaded again counts again.
	storeNAR(t, s, narY, 50)
	if got := s.Size(); got != 50 {
		t.Errorf("Size %d after one file came again, want 50", got)
	}
	if err := s.PutNarInfo(&narinfo.NarInfo{StorePath: "/nix/store/" + c + "-x", URL: "nar/" + narX}, narX); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("narinfo naming an expired NAR file: %v", err)
	}
}

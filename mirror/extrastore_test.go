package mirror

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestExtraStoreEvictsLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	s := newExtraStore(dir, 1000, testLogger(t))
	body := make([]byte, 300)
	for _, name := range []string{"ls/a.ls", "ls/b.ls", "log/c.drv"} {
		if err := s.put(name, body); err != nil {
			t.Fatal(err)
		}
	}
	// Reading a makes b the least recently used.
	f, err := s.open("ls/a.ls")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := s.put("log/d.drv", body); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"ls/a.ls": true, "ls/b.ls": false, "log/c.drv": true, "log/d.drv": true} {
		_, err := os.Stat(filepath.Join(dir, name))
		if got := err == nil; got != want {
			t.Errorf("%s on disk: %t, want %t", name, got, want)
		}
	}
	if _, err := s.open("ls/b.ls"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("evicted file: open err = %v, want not-exist", err)
	}
	if s.total != 900 {
		t.Errorf("total = %d, want 900", s.total)
	}
}

func TestExtraStoreReopen(t *testing.T) {
	dir := t.TempDir()
	s := newExtraStore(dir, 1<<20, testLogger(t))
	if err := s.put("ls/a.ls", []byte("listing")); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, "log", extraTempPrefix+"123")
	if err := os.WriteFile(leftover, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "ls/a.ls"), old, old); err != nil {
		t.Fatal(err)
	}

	s = newExtraStore(dir, 1<<20, testLogger(t))
	f, err := s.open("ls/a.ls")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(b) != "listing" {
		t.Errorf("reopened: %q, %v", b, err)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leftover temp file still there: %v", err)
	}
	if _, err := s.open("log/" + extraTempPrefix + "123"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a temp file is served: %v", err)
	}
	if s.total != int64(len("listing")) {
		t.Errorf("total = %d, want %d", s.total, len("listing"))
	}
}

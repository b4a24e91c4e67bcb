package cachetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// What the fill asks of a store besides files and narinfos.

func testStoredSize(t *testing.T, s *suite) {
	st := s.store(t)
	n := newNAR(t, "storedsize", 3000)
	if _, ok := st.StoredSize(n.key); ok {
		t.Error("StoredSize of a missing file: ok")
	}
	w := write(t, st, n.key, n.data)
	defer w.Cancel()
	if _, ok := st.StoredSize(n.key); ok {
		t.Error("StoredSize of an uncommitted file: ok")
	}
	if err := w.CommitBatched(context.Background()); err != nil {
		t.Fatal(err)
	}
	if size, ok := st.StoredSize(n.key); !ok || size != int64(len(n.data)) {
		t.Errorf("StoredSize after CommitBatched = %d, %v, want %d", size, ok, len(n.data))
	}
	if got, err := readFile(st, n.key); err != nil || !bytes.Equal(got, n.data) {
		t.Errorf("file after CommitBatched: %d bytes, %v", len(got), err)
	}
}

// testRoomAndIncoming: a small file fits an empty store, and neither an
// incoming file nor a superseded one changes what is stored.
func testRoomAndIncoming(t *testing.T, s *suite) {
	st := s.store(t)
	if why := st.CannotStore(1000); why != "" {
		t.Errorf("CannotStore(1000) on an empty store = %q", why)
	}
	n := newNAR(t, "incoming", 2000)
	done := st.Incoming(n.key, func() int64 { return 100 })
	commit(t, st, n.key, n.data)
	done()
	done() // idempotent
	st.Supersede(n.key)
	if got, err := readFile(st, n.key); err != nil || !bytes.Equal(got, n.data) {
		t.Errorf("superseded file right after: %d bytes, %v", len(got), err)
	}
}

// testFollow: a follower reads what was written so far, then the whole
// file, also once the writer committed, or cancelled (the bytes it had).
func testFollow(t *testing.T, s *suite) {
	st := s.store(t)
	for _, cancel := range []bool{false, true} {
		n := newNAR(t, "follow", 4000)
		w := write(t, st, n.key, n.data[:1000])
		defer w.Cancel()
		r, err := w.Follow()
		if errors.Is(err, errors.ErrUnsupported) {
			t.Skip("the store cannot follow its writers")
		}
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		wantAt(t, r, 0, n.data[:1000])
		if _, err := w.Write(n.data[1000:]); err != nil {
			t.Fatal(err)
		}
		wantAt(t, r, 1000, n.data[1000:])
		if cancel {
			w.Cancel()
		} else if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		wantAt(t, r, 0, n.data)
	}
}

func wantAt(t *testing.T, r cache.FileFollower, off int64, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	k, err := r.ReadAt(got, off)
	if k != len(want) || (err != nil && err != io.EOF) || !bytes.Equal(got, want) {
		t.Errorf("ReadAt(%d bytes at %d) = %d, %v, or other bytes", len(want), off, k, err)
	}
}

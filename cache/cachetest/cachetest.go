// Package cachetest is the compliance suite of cache.Store: every backend
// runs Run against itself. It imports no backend.
package cachetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// Open opens the store kept in dir, creating it if needed. It must not
// close the store: Run closes every store it opens.
type Open func(t *testing.T, dir string) cache.Store

// Run runs the compliance suite against the stores open makes.
func Run(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *suite)
	}{
		{"MissingIsNotExist", testMissing},
		{"CommitIsAtomic", testCommitAtomic},
		{"CancelLeavesNothing", testCancel},
		{"ReaderOfDeletedFile", testReaderOfDeleted},
		{"ConcurrentWritersOfOneKey", testConcurrentWriters},
		{"ReopenKeepsCommitted", testReopen},
		{"NarInfos", testNarInfos},
		{"NegativeEntries", testNegative},
		{"StoredSize", testStoredSize},
		{"RoomAndIncoming", testRoomAndIncoming},
		{"FollowAWriter", testFollow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, &suite{open: open, dir: t.TempDir()})
		})
	}
}

type suite struct {
	open Open
	dir  string
}

// store opens the store of the suite's folder, closed at the test's end.
func (s *suite) store(t *testing.T) cache.Store {
	t.Helper()
	st := s.open(t, s.dir)
	t.Cleanup(func() { st.Close() })
	return st
}

// nar is a file and the key and narinfo it is stored under.
type nar struct {
	key  string
	data []byte
	info *narinfo.NarInfo
}

func newNAR(t *testing.T, seed string, size int) nar {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*31) ^ seed[i%len(seed)]
	}
	sum := sha256.Sum256(data)
	id := sha256.Sum256([]byte("cachetest\x00" + seed))
	hashPart := nixbase32.EncodeToString(id[:20])
	h := nixhash.MustNewHash(nixhash.SHA256, sum[:])
	key, err := narinfo.NarFileKey(hashPart, h, "none")
	if err != nil {
		t.Fatal(err)
	}
	ni := &narinfo.NarInfo{
		StorePath: "/nix/store/" + hashPart + "-" + seed, URL: "nar/mirror/" + key,
		Compression: "none", NarHash: h, NarSize: uint64(size), References: []string{},
	}
	return nar{key: key, data: data, info: ni}
}

func write(t *testing.T, st cache.Store, key string, data []byte) cache.FileWriter {
	t.Helper()
	w, err := st.CreateFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	return w
}

func commit(t *testing.T, st cache.Store, key string, data []byte) {
	t.Helper()
	w := write(t, st, key, data)
	defer w.Cancel()
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// readFile reads a committed file whole, checking its announced size.
func readFile(st cache.Store, key string) ([]byte, error) {
	r, err := st.OpenFile(key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err == nil && int64(len(b)) != r.Size() {
		err = fmt.Errorf("read %d bytes of a file of %d", len(b), r.Size())
	}
	return b, err
}

func listed(t *testing.T, st cache.Store, key string) bool {
	t.Helper()
	found := false
	err := st.WalkFiles(func(k string, _ int64) error {
		found = found || k == key
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func wantNotExist(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: %v, want fs.ErrNotExist", what, err)
	}
}

func testMissing(t *testing.T, s *suite) {
	st := s.store(t)
	n := newNAR(t, "missing", 10)
	_, err := st.OpenFile(n.key)
	wantNotExist(t, "OpenFile", err)
	_, _, err = st.StatFile(n.key)
	wantNotExist(t, "StatFile", err)
	wantNotExist(t, "DeleteFile", st.DeleteFile(n.key))
	_, err = st.NarInfo(n.info.HashPart())
	wantNotExist(t, "NarInfo", err)
	_, err = st.OpenFile("../../etc/passwd")
	wantNotExist(t, "OpenFile of a path", err)
}

func testCommitAtomic(t *testing.T, s *suite) {
	st := s.store(t)
	n := newNAR(t, "atomic", 300<<10)
	w := write(t, st, n.key, n.data[:len(n.data)/2])
	defer w.Cancel()
	_, err := st.OpenFile(n.key)
	wantNotExist(t, "OpenFile before Commit", err)
	if listed(t, st, n.key) {
		t.Error("WalkFiles lists a file before Commit")
	}
	if _, err := w.Write(n.data[len(n.data)/2:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, err := readFile(st, n.key); err != nil || !bytes.Equal(got, n.data) {
		t.Fatalf("after Commit: %d bytes, %v", len(got), err)
	}
	if size, _, err := st.StatFile(n.key); err != nil || size != int64(len(n.data)) {
		t.Errorf("StatFile = %d, %v", size, err)
	}
	if !listed(t, st, n.key) {
		t.Error("WalkFiles does not list a committed file")
	}
}

func testCancel(t *testing.T, s *suite) {
	st := s.store(t)
	n := newNAR(t, "cancel", 1000)
	w := write(t, st, n.key, n.data)
	w.Cancel()
	w.Cancel()
	_, err := st.OpenFile(n.key)
	wantNotExist(t, "OpenFile after Cancel", err)
	if listed(t, st, n.key) {
		t.Error("WalkFiles lists a cancelled file")
	}
	w = write(t, st, n.key, n.data)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	w.Cancel() // after Commit: keeps the file
	if got, err := readFile(st, n.key); err != nil || !bytes.Equal(got, n.data) {
		t.Fatalf("Cancel after Commit: %d bytes, %v", len(got), err)
	}
}

func testReaderOfDeleted(t *testing.T, s *suite) {
	st := s.store(t)
	n := newNAR(t, "deleted", 200<<10)
	commit(t, st, n.key, n.data)
	if err := st.PutNarInfo(cache.NarInfoEntry{NarInfo: n.info, Key: n.key}); err != nil {
		t.Fatal(err)
	}
	r, err := st.OpenFile(n.key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	head := make([]byte, 1000)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteFile(n.key); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if got := append(head, rest...); err != nil || !bytes.Equal(got, n.data) {
		t.Fatalf("reader of a deleted file got %d bytes, %v", len(got), err)
	}
	_, err = st.OpenFile(n.key)
	wantNotExist(t, "OpenFile after DeleteFile", err)
	_, err = st.NarInfo(n.info.HashPart())
	wantNotExist(t, "NarInfo naming a deleted file", err)
}

func testConcurrentWriters(t *testing.T, s *suite) {
	st := s.store(t)
	const writers = 6
	key := newNAR(t, "concurrent", 1).key
	versions := make([][]byte, writers)
	for i := range versions {
		versions[i] = newNAR(t, fmt.Sprintf("version-%d", i), 64<<10+i).data
	}
	isVersion := func(b []byte) bool {
		for _, v := range versions {
			if bytes.Equal(b, v) {
				return true
			}
		}
		return false
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for i := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			w, err := st.CreateFile(key)
			if err != nil {
				errs <- err
				return
			}
			defer w.Cancel()
			for off := 0; off < len(versions[i]); off += 4096 {
				if _, err := w.Write(versions[i][off:min(off+4096, len(versions[i]))]); err != nil {
					errs <- err
					return
				}
			}
			if err := w.Commit(); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			b, err := readFile(st, key)
			if err == nil && !isVersion(b) {
				err = fmt.Errorf("a reader got %d bytes of no one version", len(b))
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if b, err := readFile(st, key); err != nil || !isVersion(b) {
		t.Fatalf("after every commit: %d bytes, %v", len(b), err)
	}
}

func testReopen(t *testing.T, s *suite) {
	n := newNAR(t, "reopen", 5000)
	st := s.open(t, s.dir)
	commit(t, st, n.key, n.data)
	if err := st.PutNarInfo(cache.NarInfoEntry{NarInfo: n.info, Key: n.key, Upstream: "up"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = s.store(t)
	if got, err := readFile(st, n.key); err != nil || !bytes.Equal(got, n.data) {
		t.Fatalf("after reopening: %d bytes, %v", len(got), err)
	}
	e, err := st.NarInfo(n.info.HashPart())
	if err != nil || e.Key != n.key || e.Upstream != "up" || !bytes.Equal(e.NarInfo.Bytes(), n.info.Bytes()) {
		t.Fatalf("narinfo after reopening: %+v, %v", e, err)
	}
}

func testNarInfos(t *testing.T, s *suite) {
	st := s.store(t)
	a, b := newNAR(t, "narinfo-a", 10), newNAR(t, "narinfo-b", 10)
	hp := a.info.HashPart()
	if err := st.PutNegative(hp); err != nil {
		t.Fatal(err)
	}
	if err := st.PutNarInfo(cache.NarInfoEntry{NarInfo: a.info, Key: a.key, UpstreamURL: "nar/a", UpstreamKey: "upstream-key.nar.xz"}); err != nil {
		t.Fatal(err)
	}
	if st.Negative(hp) {
		t.Error("PutNarInfo left the negative entry")
	}
	e, err := st.NarInfo(hp)
	if err != nil || e.Key != a.key || e.UpstreamURL != "nar/a" || e.UpstreamKey != "upstream-key.nar.xz" || !bytes.Equal(e.Raw, a.info.Bytes()) {
		t.Fatalf("NarInfo = %+v, %v", e, err)
	}
	if err := st.DeleteNarInfo(hp); err != nil {
		t.Fatal(err)
	}
	_, err = st.NarInfo(hp)
	wantNotExist(t, "NarInfo after DeleteNarInfo", err)
	if err := st.DeleteNarInfo(b.info.HashPart()); err != nil {
		t.Errorf("DeleteNarInfo of none: %v", err)
	}
	if err := st.PutNarInfo(cache.NarInfoEntry{Key: a.key}); err == nil {
		t.Error("PutNarInfo took an entry without a narinfo")
	}
}

func testNegative(t *testing.T, s *suite) {
	st := s.store(t)
	a, b := newNAR(t, "negative-a", 10), newNAR(t, "negative-b", 10)
	if st.Negative(a.info.HashPart()) {
		t.Error("negative entry before any")
	}
	if err := st.PutNegative(a.info.HashPart()); err != nil {
		t.Fatal(err)
	}
	if !st.Negative(a.info.HashPart()) || st.Negative(b.info.HashPart()) {
		t.Error("negative entries do not hold what was put")
	}
}

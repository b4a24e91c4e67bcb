package fill

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/internal/nartest"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// testOptions configures openTest: the store's options and the fill's.
type testOptions struct {
	Dir                                     string
	MaxSize                                 int64
	DiskRetry, CommitDelay, SupersededGrace time.Duration
	FillTimeout, StallTimeout               time.Duration
	Logger                                  *slog.Logger
	Registerer                              prometheus.Registerer
	// The fill's options for tests: memoryBudget (negative: no download
	// into memory) and the hooks.
	memoryBudget           int64
	testHookNarCheck       func()
	testHookMemoryReserved func()
}

// testCache is a fill over a disk store, with what the tests look at.
type testCache struct {
	*Cache
	disk   *disk.Cache
	st     *testStore
	tmpDir string
}

// testStore is the disk store, made to refuse new files at will, as
// cache/disk does for DiskRetry after the disk refused a write.
type testStore struct {
	*disk.Cache
	refused atomic.Bool

	mu         sync.Mutex
	superseded []string // the keys given to Supersede, in order
}

func (s *testStore) Supersede(key string) {
	s.mu.Lock()
	s.superseded = append(s.superseded, key)
	s.mu.Unlock()
	s.Cache.Supersede(key)
}

func (s *testStore) supersededKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.superseded...)
}

func (s *testStore) CannotStore(size uint64) string {
	if s.refused.Load() {
		return "cache disk refused recent writes"
	}
	return s.Cache.CannotStore(size)
}

func openTest(t testing.TB, opts testOptions) *testCache {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logger == nil && testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := disk.Open(disk.Options{Dir: opts.Dir, MaxSize: opts.MaxSize, DiskRetry: opts.DiskRetry,
		CommitDelay: opts.CommitDelay, SupersededGrace: opts.SupersededGrace,
		Logger: opts.Logger, Registerer: opts.Registerer})
	if err != nil {
		t.Fatal(err)
	}
	st := &testStore{Cache: d}
	c := &testCache{disk: d, st: st, tmpDir: filepath.Join(opts.Dir, "tmp"),
		Cache: New(st, Options{Logger: opts.Logger, Registerer: opts.Registerer,
			FillTimeout: opts.FillTimeout, StallTimeout: opts.StallTimeout,
			memoryBudget: opts.memoryBudget, testHookNarCheck: opts.testHookNarCheck,
			testHookMemoryReserved: opts.testHookMemoryReserved})}
	t.Cleanup(func() { c.Close() })
	return c
}

// Close closes the fill, then its store.
func (c *testCache) Close() error {
	c.Cache.Close()
	return c.disk.Close()
}

func (c *testCache) Dir() string                             { return c.disk.Dir() }
func (c *testCache) Size() (int64, int)                      { return c.disk.Size() }
func (c *testCache) storedSize(key string) (int64, bool)     { return c.disk.StoredSize(key) }
func (c *testCache) Create(key string) (*disk.Writer, error) { return c.disk.Create(key) }
func (c *testCache) PutNarInfo(e cache.NarInfoEntry) error   { return c.disk.PutNarInfo(e) }
func (c *testCache) Negative(hashPart string) bool           { return c.disk.Negative(hashPart) }

// narPath is where cache/disk keeps the committed file key.
func (c *testCache) narPath(key string) string {
	return filepath.Join(c.disk.Dir(), "nar", key[:2], key)
}

// diskFailed makes the store refuse new files, as a disk error does.
func (c *testCache) diskFailed(error) { c.st.refused.Store(true) }

var sha = nartest.SHA256

var randomBytes = nartest.RandomBytes

// blob is a synthetic NAR file with what a narinfo says about it.
type blob struct {
	key  string
	file []byte // compressed, as stored
	nar  []byte // decompressed
	spec FillSpec
}

var compress = nartest.Compress

var blobSeq atomic.Uint64

// makeBlob makes n pseudo-random NAR bytes compressed as asked; with
// fileHash the spec carries FileHash and FileSize.
func makeBlob(t testing.TB, n int, compression string, fileHash bool) *blob {
	t.Helper()
	seq := blobSeq.Add(1)
	nar := randomBytes(seq, n)
	file := compress(t, compression, nar)
	hashPart := nixbase32.EncodeToString(randomBytes(seq+1000, 20))
	key, err := narinfo.NarFileKey(hashPart, sha(nar), compression)
	if err != nil {
		t.Fatal(err)
	}
	b := &blob{key: key, file: file, nar: nar, spec: FillSpec{
		Compression: compression, NarHash: sha(nar), NarSize: uint64(len(nar)),
	}}
	if fileHash {
		b.spec.FileHash, b.spec.FileSize = sha(file), uint64(len(file))
	}
	return b
}

// specFor returns a copy of b's spec fetching from src, with a Done that
// records the results.
func specFor(b *blob, src *fakeSource) (*FillSpec, *doneLog) {
	spec := b.spec
	spec.Fetch = src.fetch
	d := &doneLog{ch: make(chan error, 10)}
	spec.Done = d.done
	return &spec, d
}

type doneLog struct {
	mu   sync.Mutex
	errs []error
	ch   chan error
}

func (d *doneLog) done(err error) {
	d.mu.Lock()
	d.errs = append(d.errs, err)
	d.mu.Unlock()
	d.ch <- err
}

func (d *doneLog) wait(t testing.TB) error {
	t.Helper()
	select {
	case err := <-d.ch:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("download did not finish")
		return nil
	}
}

func readAllNAR(t testing.TB, n NAR) ([]byte, error) {
	t.Helper()
	if err := n.Wait(); err != nil {
		return nil, err
	}
	return io.ReadAll(n)
}

func mustRead(t testing.TB, n NAR) []byte {
	t.Helper()
	b, err := readAllNAR(t, n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tmpFiles(t testing.TB, c *testCache) []string {
	t.Helper()
	es, err := os.ReadDir(c.tmpDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func commitBytes(t testing.TB, c *testCache, key string, data []byte) {
	t.Helper()
	w, err := c.Create(key)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func keyN(i int) string { return fmt.Sprintf("k%04d-test.nar", i) }

const errnoENOSPC = syscall.ENOSPC

// readConcurrently has readers open and read the NAR of b at once, each
// after its delay (nil: none), and checks that every one got the file and
// that the upstream was asked once.
func readConcurrently(t *testing.T, c *testCache, b *blob, spec *FillSpec, done *doneLog, src *fakeSource, readers int, delay func(int) time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	results := make([][]byte, readers)
	errs := make([]error, readers)
	for i := range readers {
		wg.Go(func() {
			if delay != nil {
				time.Sleep(delay(i))
			}
			n, err := c.OpenNAR(context.Background(), b.key, spec)
			if err != nil {
				errs[i] = err
				return
			}
			defer n.Close()
			results[i], errs[i] = readAllNAR(t, n)
		})
	}
	wg.Wait()
	if err := done.wait(t); err != nil {
		t.Fatal(err)
	}
	for i := range readers {
		if errs[i] != nil {
			t.Fatalf("reader %d: %v", i, errs[i])
		}
		if !bytes.Equal(results[i], b.file) {
			t.Fatalf("reader %d got %d bytes, not the file", i, len(results[i]))
		}
	}
	if got := src.calls.Load(); got != 1 {
		t.Fatalf("upstream fetched %d times, want 1", got)
	}
}

func testNarInfo(t testing.TB, b *blob, name string) *narinfo.NarInfo {
	t.Helper()
	return &narinfo.NarInfo{
		StorePath: "/nix/store/" + b.key[:32] + "-" + name, URL: "nar/mirror/" + b.key,
		Compression: b.spec.Compression, FileHash: b.spec.FileHash, FileSize: b.spec.FileSize,
		NarHash: b.spec.NarHash, NarSize: b.spec.NarSize, References: []string{b.key[:32] + "-" + name},
	}
}

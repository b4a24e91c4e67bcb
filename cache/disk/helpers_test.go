package disk

import (
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/private-nix-cache/private-nix-cache/internal/narcheck"
	"github.com/private-nix-cache/private-nix-cache/internal/nartest"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

func openTest(t testing.TB, opts Options) *Cache {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logger == nil && testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var sha = nartest.SHA256

var randomBytes = nartest.RandomBytes

// blob is a synthetic NAR file with what a narinfo says about it.
type blob struct {
	key  string
	file []byte // compressed, as stored
	nar  []byte // decompressed
	spec narcheck.Spec
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
	b := &blob{key: key, file: file, nar: nar, spec: narcheck.Spec{
		Compression: compression, NarHash: sha(nar), NarSize: uint64(len(nar)),
	}}
	if fileHash {
		b.spec.FileHash, b.spec.FileSize = sha(file), uint64(len(file))
	}
	return b
}

func tmpFiles(t testing.TB, c *Cache) []string {
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

func commitBytes(t testing.TB, c *Cache, key string, data []byte) {
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

// hit is a committed file opened for a test, as OpenFile gives it.
type hit struct{ *storedFile }

// Hit is true: only committed files are opened.
func (hit) Hit() bool { return true }

// openHit opens the committed file key (fs.ErrNotExist when there is none).
func openHit(c *Cache, key string) (*hit, error) {
	r, err := c.OpenFile(key)
	if err != nil {
		return nil, err
	}
	return &hit{r.(*storedFile)}, nil
}

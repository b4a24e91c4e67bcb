package disk

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"
	"github.com/ulikunitz/xz"

	"github.com/private-nix-cache/private-nix-cache/internal/narcheck"
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

func sha(b []byte) *nixhash.Hash {
	d := sha256.Sum256(b)
	return nixhash.MustNewHash(nixhash.SHA256, d[:])
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// blob is a synthetic NAR file with what a narinfo says about it.
type blob struct {
	key  string
	file []byte // compressed, as stored
	nar  []byte // decompressed
	spec narcheck.Spec
}

func compress(t testing.TB, compression string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch compression {
	case "none":
		return append([]byte(nil), data...)
	case "zstd":
		w, err = zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	case "xz":
		w, err = xz.NewWriter(&buf)
	case "gzip":
		w = gzip.NewWriter(&buf)
	default:
		t.Fatalf("no test compressor for %q", compression)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

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

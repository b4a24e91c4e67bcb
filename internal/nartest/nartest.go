// Package nartest makes the synthetic NAR bytes tests feed the fill and
// the stores: seeded pseudo-random content, its SHA-256 as Nix writes it,
// and its file in each compression the cache decodes.
package nartest

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nixhash"
	"github.com/ulikunitz/xz"
)

// SHA256 is the sha256 nixhash of b.
func SHA256(b []byte) *nixhash.Hash {
	d := sha256.Sum256(b)
	return nixhash.MustNewHash(nixhash.SHA256, d[:])
}

// RandomBytes returns n bytes that depend on seed alone.
func RandomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Compress returns data as a file of compression: none, zstd, xz or gzip.
func Compress(t testing.TB, compression string, data []byte) []byte {
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

package decompress

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// randomNAR is n bytes that compress a little: random halves and repeats.
func randomNAR(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 1))
	b := make([]byte, n)
	for i := range b[:n/2] {
		b[i] = byte(r.Uint32())
	}
	for i := n / 2; i < n; i++ {
		b[i] = b[i%64]
	}
	return b
}

func zstdCompress(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf)
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

// A pooled zstd decoder that met a corrupt stream decodes the next one
// right.
func TestPooledZstdAfterCorrupt(t *testing.T) {
	nar := randomNAR(200 << 10)
	good := zstdCompress(t, nar)
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)/2] ^= 0xff
	for round := range 3 {
		r, err := NewReader("zstd", bytes.NewReader(corrupt), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err == nil {
			t.Fatalf("round %d: corrupt stream decoded without error", round)
		}
		r.Close()
		r, err = NewReader("zstd", bytes.NewReader(good), 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, nar) {
			t.Fatalf("round %d: after a corrupt stream, decoded %d of %d bytes: %v", round, len(got), len(nar), err)
		}
	}
}

// Every compression a narinfo may name decodes; others are refused.
func TestNewReaderCompressions(t *testing.T) {
	nar := randomNAR(64 << 10)
	if _, err := NewReader("br", bytes.NewReader(nil), 0); err == nil {
		t.Error("br accepted")
	}
	r, err := NewReader("none", bytes.NewReader(nar), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, nar) {
		t.Error("none changed the bytes")
	}
}

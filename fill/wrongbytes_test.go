package fill

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// An upstream may rewrite FileHash and FileSize, which the narinfo
// signature does not cover, to match another valid NAR file it serves
// instead: FileHash then matches, NarHash does not. No reader may get the
// last byte of it, whether the file is downloaded into memory, into a
// temp file or streamed without storing; the upstream is blamed
// (cache.ErrVerify, as Done reports it), and nothing is stored.
func TestRewrittenFileHashNeverServedWhole(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		opts   testOptions
		memory bool
	}{
		{"in memory", 64 << 10, testOptions{}, true},
		{"temp file", 64 << 10, testOptions{}, false},
		{"pass-through", 2 << 20, testOptions{MaxSize: 1 << 20}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.memory {
				tt.opts.memoryBudget = -1
			}
			c := openTest(t, tt.opts)
			for i := range 10 {
				want := makeBlob(t, tt.size, "zstd", true)
				other := makeBlob(t, tt.size, "zstd", true)
				lie := *want
				lie.spec.FileHash, lie.spec.FileSize = other.spec.FileHash, other.spec.FileSize
				spec, done := specFor(&lie, &fakeSource{data: other.file, chunk: 16 << 10})
				n, err := c.OpenNAR(context.Background(), want.key, spec)
				if err != nil {
					t.Fatal(err)
				}
				if n.Stored() == (tt.opts.MaxSize > 0) {
					t.Fatalf("stored = %v", n.Stored())
				}
				got, err := readAllNAR(t, n)
				n.Close()
				if err == nil || len(got) >= len(other.file) {
					t.Fatalf("request %d: read %d of %d bytes of another NAR, err %v", i, len(got), len(other.file), err)
				}
				if derr := done.wait(t); !errors.Is(derr, cache.ErrVerify) {
					t.Fatalf("request %d: Done(%v), want cache.ErrVerify", i, derr)
				}
				assertNotStored(t, c, want.key)
			}
			if got := testutil.ToFloat64(c.m.verifyFailed); got != 10 {
				t.Errorf("verify failures counted: %v, want 10", got)
			}
		})
	}
}

package fill

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// zstdSkippable returns n bytes of zstd skippable frames: valid zstd that
// decodes to nothing, the worst junk for a decoder-based check.
func zstdSkippable(n int) []byte {
	var out []byte
	for len(out) < n {
		size := min(1<<20, n-len(out)-8)
		out = binary.LittleEndian.AppendUint32(out, 0x184D2A50)
		out = binary.LittleEndian.AppendUint32(out, uint32(size))
		out = append(out, make([]byte, size)...)
	}
	return out
}

func TestFillSizeBounds(t *testing.T) {
	const junk = 8 << 20
	none := makeBlob(t, 64<<10, "none", false)
	zst := makeBlob(t, 64<<10, "zstd", false)
	tests := []struct {
		name     string
		b        *blob
		data     []byte
		length   int64 // announced; -1 unknown
		wantSize int64 // Size() after Wait
		wantErr  error // nil: the NAR is stored
		maxSent  int64 // bytes the upstream may have sent
	}{
		{"none unknown length", none, none.file, -1, 64 << 10, nil, 64 << 10},
		{"none announced", none, none.file, 64 << 10, 64 << 10, nil, 64 << 10},
		{"none with junk after", none, append(bytes.Clone(none.file), make([]byte, junk)...), -1, 64 << 10, cache.ErrVerify, 64<<10 + 256<<10},
		{"none announces other length", none, none.file, 64<<10 + 1, -1, cache.ErrVerify, 0},
		{"zstd with junk after", zst, append(bytes.Clone(zst.file), zstdSkippable(junk)...), -1, -1, cache.ErrVerify, 64<<10 + 32<<10 + 1<<20 + 256<<10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := openTest(t, testOptions{})
			src := &fakeSource{data: tt.data, chunk: 32 << 10, length: tt.length}
			spec, done := specFor(tt.b, src)
			n, err := c.OpenNAR(context.Background(), tt.b.key, spec)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			werr := n.Wait()
			if werr == nil {
				if got := n.Size(); got != tt.wantSize {
					t.Errorf("Size() = %d, want %d", got, tt.wantSize)
				}
			}
			got, rerr := io.ReadAll(n)
			if werr != nil {
				rerr = werr
			}
			if derr := done.wait(t); !errors.Is(derr, tt.wantErr) {
				t.Fatalf("download: %v, want %v", derr, tt.wantErr)
			}
			if !errors.Is(rerr, tt.wantErr) {
				t.Fatalf("reader: %v, want %v", rerr, tt.wantErr)
			}
			if tt.wantErr == nil && !bytes.Equal(got, tt.b.file) {
				t.Fatalf("reader got %d bytes, not the file", len(got))
			}
			if sent := src.sent.Load(); sent > tt.maxSent {
				t.Fatalf("upstream sent %d bytes, want at most %d", sent, tt.maxSent)
			}
			h, err := c.OpenNAR(context.Background(), tt.b.key, nil)
			if stored := err == nil; stored != (tt.wantErr == nil) {
				t.Fatalf("stored = %v, want %v", stored, tt.wantErr == nil)
			}
			if err == nil {
				h.Close()
			}
		})
	}
}

// countingZeros is a long run of zeros that counts the bytes read.
type countingZeros struct{ left, read int64 }

func (z *countingZeros) Read(p []byte) (int, error) {
	if z.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.left))
	clear(p[:n])
	z.left -= int64(n)
	z.read += int64(n)
	return n, nil
}

func TestVerifyNarStopsPastNarSize(t *testing.T) {
	b := makeBlob(t, 64<<10, "none", false)
	z := &countingZeros{left: 1 << 40}
	start := time.Now()
	err := verifyNar(&b.spec, io.MultiReader(bytes.NewReader(b.nar), z))
	if !errors.Is(err, cache.ErrVerify) {
		t.Fatalf("verifyNar = %v, want cache.ErrVerify", err)
	}
	if z.read > 1<<20 {
		t.Fatalf("read %d bytes past the NAR (in %s)", z.read, time.Since(start))
	}
}

func TestPassthroughUnknownSizeBounded(t *testing.T) {
	c := openTest(t, testOptions{})
	b := makeBlob(t, 64<<10, "none", false)
	b.spec.Compression = "br" // not decodable here: streamed, not stored
	src := &fakeSource{data: randomBytes(7, 8<<20), chunk: 32 << 10, length: -1}
	spec, _ := specFor(b, src)
	n, err := c.OpenNAR(context.Background(), b.key, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.Stored() {
		t.Fatal("an undecodable NAR is stored")
	}
	if _, err := readAllNAR(t, n); !errors.Is(err, cache.ErrVerify) {
		t.Fatalf("reader: %v, want cache.ErrVerify", err)
	}
	if sent, max := src.sent.Load(), int64(64<<10+32<<10+1<<20+256<<10); sent > max {
		t.Fatalf("upstream sent %d bytes, want at most %d", sent, max)
	}
}

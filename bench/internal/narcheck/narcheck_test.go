package narcheck

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nixhash"
	"github.com/ulikunitz/xz"
)

func compress(t *testing.T, data []byte, how string) []byte {
	t.Helper()
	var b bytes.Buffer
	switch how {
	case "none":
		return data
	case "zstd":
		w, _ := zstd.NewWriter(&b)
		w.Write(data)
		w.Close()
	case "xz":
		w, _ := xz.NewWriter(&b)
		w.Write(data)
		w.Close()
	}
	return b.Bytes()
}

// cutReader returns data, then a transport error instead of EOF.
type cutReader struct{ r io.Reader }

func (c cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func TestVerify(t *testing.T) {
	nar := bytes.Repeat([]byte("nix-archive-1 pretend "), 5000)
	sum := sha256.Sum256(nar)
	hash := nixhash.MustNewHash(nixhash.SHA256, sum[:])
	for _, how := range []string{"none", "zstd", "xz"} {
		body := compress(t, nar, how)
		flipped := append([]byte(nil), body...)
		flipped[len(flipped)/2] ^= 0xff
		tests := []struct {
			name string
			r    io.Reader
			size uint64
			want error
		}{
			{"good", bytes.NewReader(body), uint64(len(nar)), nil},
			{"corrupt", bytes.NewReader(flipped), uint64(len(nar)), ErrMismatch},
			{"short success", bytes.NewReader(body[:len(body)/2]), uint64(len(nar)), ErrMismatch},
			{"cut", cutReader{bytes.NewReader(body[:len(body)/2])}, uint64(len(nar)), ErrTransport},
			// The server cuts a body it found bad: the client must not
			// take the bad bytes before the cut for a delivered NAR.
			{"corrupt then cut", cutReader{bytes.NewReader(flipped[:len(flipped)-1])}, uint64(len(nar)), ErrTransport},
			{"wrong size", bytes.NewReader(body), uint64(len(nar)) + 1, ErrMismatch},
		}
		for _, tt := range tests {
			t.Run(how+"/"+tt.name, func(t *testing.T) {
				n, err := Verify(tt.r, how, hash, tt.size)
				if tt.want == nil {
					if err != nil || n != int64(len(body)) {
						t.Errorf("Verify = %d, %v; want %d, nil", n, err, len(body))
					}
					return
				}
				if !errors.Is(err, tt.want) {
					t.Errorf("Verify error = %v, want %v", err, tt.want)
				}
			})
		}
	}
}

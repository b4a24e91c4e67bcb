package decompress

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/internal/boundedxz"
)

// requireXZ returns the xz program, failing under CI when it is missing.
func requireXZ(t testing.TB) string {
	bin := xzBinary()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no xz binary")
		}
		t.Skip("no xz binary")
	}
	return bin
}

func xzCompress(t testing.TB, data []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(requireXZ(t), append([]string{"--compress", "--stdout"}, args...)...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// decodeBoth decodes file with the xz process and with the pure-Go
// decoder, which must agree.
func decodeBoth(t *testing.T, file []byte) (got []byte, procErr, goErr error) {
	t.Helper()
	p, err := startXZ(requireXZ(t), bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	got, procErr = io.ReadAll(p)
	p.Close()
	x, err := boundedxz.NewReader(bytes.NewReader(file))
	if err == nil {
		_, err = io.Copy(io.Discard, x)
	}
	return got, procErr, err
}

// The xz process decodes what boundedxz decodes and refuses what it
// refuses: dictionaries over 64 MiB (as boundedxz.ErrDictTooLarge),
// corrupt, cut and trailing bytes.
func TestXZProcessAgreesWithBoundedXZ(t *testing.T) {
	nar := randomNAR(300 << 10)
	x9 := xzCompress(t, nar, "-9")
	twoStreams := append(append([]byte{}, x9...), xzCompress(t, nar, "-1")...)
	corrupt := bytes.Clone(x9)
	corrupt[len(corrupt)/2] ^= 0x55
	tests := []struct {
		name    string
		file    []byte
		want    []byte
		wantErr error // nil: any error; checked only when fails
		fails   bool
	}{
		{"xz -9", x9, nar, nil, false},
		{"two streams", twoStreams, append(bytes.Clone(nar), nar...), nil, false},
		{"96 MiB dictionary", xzCompress(t, nar, "--lzma2=dict=65MiB"), nil, boundedxz.ErrDictTooLarge, true},
		{"corrupt", corrupt, nil, nil, true},
		{"cut", x9[:len(x9)-10], nil, nil, true},
		{"trailing garbage", append(bytes.Clone(x9), "garbage!"...), nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, perr, gerr := decodeBoth(t, tt.file)
			if !tt.fails {
				if perr != nil || gerr != nil || !bytes.Equal(got, tt.want) {
					t.Fatalf("process: %v (%d bytes), go: %v", perr, len(got), gerr)
				}
				return
			}
			if perr == nil || gerr == nil {
				t.Fatalf("process: %v, go: %v; want both to fail", perr, gerr)
			}
			if tt.wantErr != nil && (!errors.Is(perr, tt.wantErr) || !errors.Is(gerr, tt.wantErr)) {
				t.Fatalf("process: %v, go: %v; want %v", perr, gerr, tt.wantErr)
			}
		})
	}
}

// A decoder closed early stops its process and reads no more of its input.
func TestXZProcessClosedEarly(t *testing.T) {
	nar := randomNAR(2 << 20)
	p, err := startXZ(requireXZ(t), bytes.NewReader(xzCompress(t, nar, "-1")))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(p, buf); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if p.cmd.ProcessState == nil {
		t.Fatal("process not reaped")
	}
}

// BenchmarkXZDecoders compares the decoders on the xz NARs of the fleet
// benchmark's fixture, when there is one.
func BenchmarkXZDecoders(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(os.Getenv("HOME"), ".cache/private-nix-cache-bench/fleet-*/cache-xz/nar/*.nar.xz"))
	if len(files) == 0 {
		b.Skip("no fleet fixture")
	}
	var all [][]byte
	for _, f := range files[:min(len(files), 40)] {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, data)
	}
	run := func(b *testing.B, open func([]byte) (io.Reader, func())) {
		var n int64
		for b.Loop() {
			n = 0
			for _, data := range all {
				r, done := open(data)
				k, err := io.Copy(io.Discard, r)
				done()
				if err != nil {
					b.Fatal(err)
				}
				n += k
			}
		}
		b.SetBytes(n)
	}
	b.Run("process", func(b *testing.B) {
		run(b, func(data []byte) (io.Reader, func()) {
			p, err := startXZ(requireXZ(b), bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			return p, func() { p.Close() }
		})
	})
	b.Run("go", func(b *testing.B) {
		run(b, func(data []byte) (io.Reader, func()) {
			x, err := boundedxz.NewReader(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			return x, func() {}
		})
	})
}

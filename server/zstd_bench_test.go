package server

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/localstore"
)

var (
	realPathOnce  sync.Once
	realPathStore *localstore.Store
	realPath      string
	realPathErr   error
)

// realStorePath adds a copy of this machine's binaries (the Go toolchain's
// and /usr/bin) to the Nix store and serves it from a chroot store: typical
// store contents, unlike the fixture's random and repeated bytes.
func realStorePath(b *testing.B) (*localstore.Store, string) {
	nixtest.Require(b)
	realPathOnce.Do(func() {
		dir, err := os.MkdirTemp("", "zstd-bench-")
		if err != nil {
			realPathErr = err
			return
		}
		defer os.RemoveAll(dir)
		src := filepath.Join(dir, "real-binaries")
		goroot := runtime.GOROOT()
		env := nixtest.Env(b)
		for _, cp := range [][]string{
			{"mkdir", "-p", src},
			{"cp", "-a", filepath.Join(goroot, "bin"), filepath.Join(src, "go-bin")},
			{"cp", "-a", filepath.Join(goroot, "pkg", "tool"), filepath.Join(src, "go-tool")},
			{"cp", "-a", "/usr/bin", filepath.Join(src, "usr-bin")},
		} {
			nixtest.Run(b, env, cp[0], cp[1:]...)
		}
		realPath = nixtest.Run(b, env, "nix-store", "--add", src)
		chroot := filepath.Join(b.TempDir(), "store")
		nixtest.Run(b, env, "nix", "copy", "--no-check-sigs", "--to", chroot, realPath)
		realPathStore, realPathErr = localstore.Open(chroot)
	})
	if realPathErr != nil {
		b.Fatal(realPathErr)
	}
	return realPathStore, realPath
}

// cpuTime is the CPU seconds this process has used.
func cpuTime(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// BenchmarkLocalZstd compresses a NAR of real binaries on one goroutine, as
// a request does, and reports MB/s of NAR input and the ratio per setting.
func BenchmarkLocalZstd(b *testing.B) {
	st, path := realStorePath(b)
	b.Logf("%s", path)
	for _, tc := range []struct {
		name     string
		level    zstd.EncoderLevel
		window   int
		readFrom bool
		noCRC    bool
	}{
		{"fastest", zstd.SpeedFastest, zstdWindow, false, false},
		{"fastest-nocrc", zstd.SpeedFastest, zstdWindow, false, true},
		{"fastest-readfrom", zstd.SpeedFastest, zstdWindow, true, false},
		{"fastest-4MiB", zstd.SpeedFastest, 4 << 20, false, false},
		{"fastest-8MiB", zstd.SpeedFastest, 8 << 20, false, false},
		{"default", zstd.SpeedDefault, zstdWindow, false, false},
		{"default-8MiB", zstd.SpeedDefault, 8 << 20, false, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(tc.level), zstd.WithEncoderConcurrency(1),
				zstd.WithWindowSize(tc.window), zstd.WithEncoderCRC(!tc.noCRC))
			if err != nil {
				b.Fatal(err)
			}
			var in, out int64
			cpu0 := cpuTime(b)
			for b.Loop() {
				cw := &countWriter{}
				enc.Reset(cw)
				var w io.Writer = writerOnly{enc}
				if tc.readFrom {
					w = enc
				}
				n, err := st.WriteNAR(w, path)
				if err != nil {
					b.Fatal(err)
				}
				if err := enc.Close(); err != nil {
					b.Fatal(err)
				}
				in, out = n, cw.n
				b.SetBytes(n)
			}
			b.ReportMetric(float64(in)/float64(out), "ratio")
			// CPU time, not wall time: on a shared machine it is what
			// tells whether one core keeps up.
			b.ReportMetric(float64(in)*float64(b.N)/1e6/(cpuTime(b)-cpu0), "MB/cpu-s")
		})
	}
	b.Run("none", func(b *testing.B) {
		for b.Loop() {
			n, err := st.WriteNAR(io.Discard, path)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(n)
		}
	})
}

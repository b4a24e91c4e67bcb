package fill

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/internal/boundedxz"
	"github.com/private-nix-cache/private-nix-cache/internal/hostilexz"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// peakRSSLimit is far below the 4 GiB each stream of the hostile file
// asks for, and far above what refusing it costs.
const peakRSSLimit = 1 << 30

// An xz file holding the genuine NAR in 16 streams, each asking for a
// 4 GiB dictionary, with every CRC and FileHash/FileSize right: refused
// by the fill, the pass-through and verify, without the memory it asks
// for. Each case runs in a child process, so that its peak RSS is its own.
func TestHostileXZDictionary(t *testing.T) {
	for _, mode := range []string{"fill", "fill-narhash", "passthrough", "verify"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHostileXZChild$", "-test.v", "-test.timeout=2m")
			cmd.Env = append(os.Environ(), "PRIVATE_NIX_CACHE_HOSTILE_XZ="+mode)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			peak := childPeakRSS(t, out)
			t.Logf("%s: peak RSS %d MiB", mode, peak>>20)
			if peak > peakRSSLimit {
				t.Errorf("%s: peak RSS %d MiB, want under %d MiB", mode, peak>>20, peakRSSLimit>>20)
			}
		})
	}
}

func childPeakRSS(t *testing.T, out []byte) int64 {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "peak-rss-bytes "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("child reported no peak RSS:\n%s", out)
	return 0
}

func TestHostileXZChild(t *testing.T) {
	mode := os.Getenv("PRIVATE_NIX_CACHE_HOSTILE_XZ")
	if mode == "" {
		t.Skip("run by TestHostileXZDictionary")
	}
	b := hostileBlob(t)
	switch mode {
	case "fill":
		hostileFill(t, b, false)
	case "fill-narhash", "passthrough":
		// Without a FileHash only the NarHash check, decoding the file,
		// can find it bad: no client gets the last byte.
		b.spec.FileHash, b.spec.FileSize = nil, 0
		hostileFill(t, b, mode == "passthrough")
	case "verify":
		hostileVerify(t, b)
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	fmt.Printf("peak-rss-bytes %d\n", peakRSS(t))
}

// hostileBlob re-encodes a genuine NAR as the hostile file, with the
// FileHash and FileSize of that file (FileHash is not signed).
func hostileBlob(t *testing.T) *blob {
	b := makeBlob(t, 512<<10, "none", true)
	file, err := hostilexz.HugeDict(b.nar, 16, hostilexz.DictCode4GiB)
	if err != nil {
		t.Fatal(err)
	}
	if b.key, err = narinfo.NarFileKey(b.key[:32], b.spec.NarHash, "xz"); err != nil {
		t.Fatal(err)
	}
	b.file, b.spec.Compression = file, "xz"
	b.spec.FileHash, b.spec.FileSize = sha(file), uint64(len(file))
	return b
}

func hostileFill(t *testing.T, b *blob, passthrough bool) {
	c := openTest(t, testOptions{})
	if passthrough {
		c.diskFailed(os.NewSyscallError("write", errnoENOSPC)) // as if the disk were full
	}
	spec, done := specFor(b, &fakeSource{data: b.file, chunk: 16 << 10})
	n, err := c.OpenNAR(context.Background(), b.key, spec)
	if err != nil {
		t.Fatal(err)
	}
	if passthrough && n.Stored() {
		t.Fatal("stored although the disk is marked bad")
	}
	got, rerr := readAllNAR(t, n)
	n.Close()
	derr := done.wait(t)
	// Once an (unsigned) FileHash matched, a client may have every byte:
	// Nix's own NarHash check rejects them.
	if b.spec.FileHash == nil && (rerr == nil || len(got) >= len(b.file)) {
		t.Fatalf("reader got %d of %d bytes, error %v", len(got), len(b.file), rerr)
	}
	if !errors.Is(derr, cache.ErrVerify) || !errors.Is(derr, boundedxz.ErrDictTooLarge) {
		t.Fatalf("download error = %v, want a refused dictionary", derr)
	}
	assertNotStored(t, c, b.key)
}

func hostileVerify(t *testing.T, b *blob) {
	dir := t.TempDir()
	c := openTest(t, testOptions{Dir: dir})
	commitBytes(t, c, b.key, b.file)
	if err := c.PutNarInfo(cache.NarInfoEntry{NarInfo: testNarInfo(t, b, "p"), Key: b.key}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	rep, err := disk.Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked != 1 || len(rep.Bad) != 1 {
		t.Fatalf("Verify report = %+v", rep)
	}
	if _, err := os.Stat(c.narPath(b.key)); err == nil {
		t.Error("refused file kept")
	}
}

// peakRSS is the process's high-water mark of resident memory.
func peakRSS(t *testing.T) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kib << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

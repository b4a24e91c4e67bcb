package mirror

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// writeBzip2Cache writes an upstream cache folder with one NAR compressed
// by bzip2 whose narinfo has no Compression line, nor FileHash or
// FileSize, as old caches serve them: Nix reads that as bzip2.
func writeBzip2Cache(t *testing.T, key upstreamtest.Key) (dir string, ni *narinfo.NarInfo, nar []byte) {
	t.Helper()
	bz, err := exec.LookPath("bzip2")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("bzip2 not installed")
		}
		t.Skip("bzip2 not installed")
	}
	nar = upstreamtest.RegularFileNAR(randomContent(t, 3000), false)
	cmd := exec.Command(bz, "-c")
	cmd.Stdin = bytes.NewReader(nar)
	file, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "nar"), 0o755); err != nil {
		t.Fatal(err)
	}
	fileSum, narSum := sha256.Sum256(file), sha256.Sum256(nar)
	ni = &narinfo.NarInfo{
		StorePath:  "/nix/store/" + nixbase32.EncodeToString(fileSum[:20]) + "-old-bzip2",
		URL:        "nar/" + nixbase32.EncodeToString(fileSum[:]) + ".nar.bz2",
		NarHash:    nixhash.MustNewHash(nixhash.SHA256, narSum[:]),
		NarSize:    uint64(len(nar)),
		References: []string{},
	}
	if err := ni.Sign(key.Secret); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(ni.URL)), file, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ni.HashPart()+".narinfo"), ni.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, ni, nar
}

func randomContent(t *testing.T, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/13)
	}
	return b
}

// A narinfo without Compression names a bzip2 file, whose size is not its
// NarSize: HEAD announces no length rather than a wrong one.
func TestHeadLengthWithoutCompression(t *testing.T) {
	key := upstreamtest.NewKey(t, "upstream-bzip2-1")
	dir, up, nar := writeBzip2Cache(t, key)
	e := newEnvFromDir(t, dir, key.Public)
	ni := e.narInfo(up.StorePath)
	if ni.Compression != "" || ni.FileSize != 0 {
		t.Fatalf("served narinfo has Compression %q, FileSize %d", ni.Compression, ni.FileSize)
	}
	head, err := http.Head(e.srv.URL + "/" + ni.URL)
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != http.StatusOK || head.ContentLength == int64(ni.NarSize) || head.ContentLength >= 0 {
		t.Errorf("HEAD %s: %s, Content-Length %d; want 200 without a length (NarSize is %d)",
			ni.URL, head.Status, head.ContentLength, ni.NarSize)
	}
	resp, body, err := e.get(ni.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", ni.URL, resp.Status)
	}
	if got := decompressBzip2(t, body); !bytes.Equal(got, nar) {
		t.Errorf("GET %s: %d bytes decompress to %d, want the NAR of %d", ni.URL, len(body), len(got), len(nar))
	}
}

func decompressBzip2(t *testing.T, b []byte) []byte {
	t.Helper()
	cmd := exec.Command("bzip2", "-dc")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

package main

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/internal/unixhttp"
)

// storedNARs lists the NAR files of a cache directory.
func storedNARs(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(dir, "nar"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// settledNARs waits (10 s at most) until at least min NAR files are stored
// and their number held still for half a second: commits are batched, and
// re-encoded copies follow their originals.
func settledNARs(t *testing.T, dir string, min int) []string {
	t.Helper()
	files := storedNARs(t, dir)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		again := storedNARs(t, dir)
		if len(again) >= min && len(again) == len(files) {
			return again
		}
		files = again
	}
	return files
}

// runBin runs the binary and returns its output and exit code.
func runBin(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(binPath, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}

// TestMaintenanceWhileServing runs verify and gc on the cache dir of a
// running server: through its admin socket, on its own cache, while it
// serves; and on the directory itself once it stopped.
func TestMaintenanceWhileServing(t *testing.T) {
	m := newMirrorFixture(t)
	p := m.start(t)
	m.copyAndCompare(t, p.url(), m.ourPub)
	files := settledNARs(t, m.cacheDir, 2)
	if len(files) < 2 {
		t.Fatalf("%d NARs stored", len(files))
	}
	sock := filepath.Join(m.cacheDir, "admin.sock")
	if target, err := os.Readlink(sock); err != nil {
		t.Fatal(err)
	} else if info, err := os.Stat(target); err != nil || info.Mode().Perm() != 0o600 || info.Mode().Type() != fs.ModeSocket {
		t.Fatalf("admin socket %s: %v, %v", target, info, err)
	}
	assertHeapProfile(t, sock)

	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if err := os.WriteFile(files[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runBin(t, "verify", "--cache-dir", m.cacheDir)
	if code != 1 || !strings.Contains(out, "bad, removed: "+filepath.Base(files[0])) ||
		!strings.Contains(out, ": 1 bad, 0 unverifiable") {
		t.Fatalf("verify with a corrupt file: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(files[0]); !os.IsNotExist(err) {
		t.Errorf("corrupt file still there: %v", err)
	}
	if out, code := runBin(t, "verify", "--cache-dir", m.cacheDir); code != 0 || !strings.Contains(out, ": 0 bad") {
		t.Fatalf("verify again: exit %d\n%s", code, out)
	}
	// The server fetches the removed path again.
	m.copyAndCompare(t, p.url(), m.ourPub)

	out, code = runBin(t, "gc", "--cache-dir", m.cacheDir, "--max-size", "0")
	if code != 0 || !strings.Contains(out, "; 0 left (0 B)") || strings.Contains(out, "removed 0 NARs") {
		t.Fatalf("gc: exit %d\n%s", code, out)
	}
	if left := storedNARs(t, m.cacheDir); len(left) != 0 {
		t.Errorf("after gc to 0: %d files left", len(left))
	}
	m.copyAndCompare(t, p.url(), m.ourPub)

	p.stop()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("admin socket link left after the server stopped: %v", err)
	}
	if out, code := runBin(t, "verify", "--cache-dir", m.cacheDir); code != 0 || !strings.Contains(out, "checked ") {
		t.Fatalf("verify of a stopped server's cache: exit %d\n%s", code, out)
	}
	if out, code := runBin(t, "gc", "--cache-dir", m.cacheDir, "--max-size", "0"); code != 0 {
		t.Fatalf("gc of a stopped server's cache: exit %d\n%s", code, out)
	}
}

// assertHeapProfile asks the admin socket for the heap profile.
func assertHeapProfile(t *testing.T, sock string) {
	t.Helper()
	resp, err := unixhttp.Client(sock, 10*time.Second).Get("http://admin/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("heap profile:")) {
		t.Fatalf("heap profile on the admin socket: %s\n%.200s", resp.Status, body)
	}
}

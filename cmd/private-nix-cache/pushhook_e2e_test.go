package main

import (
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
)

// The scripts the NixOS module's client.push runs, as the module takes them.
const (
	pushHookScript  = "../../nix/push-hook.sh"
	pushQueueScript = "../../nix/push-queue.sh"
)

// queuedPaths returns the paths in the files of spool's queue.
func queuedPaths(t *testing.T, spool string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(spool, "queue", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, strings.Fields(string(b))...)
	}
	sort.Strings(paths)
	return paths
}

// TestPushHookWithNix runs the post-build hook on the outputs of a real
// build, then the uploader: against a server that is down (it fails and
// the queue keeps the paths), then against the server with a push token
// (the closure lands, the queue is empty).
func TestPushHookWithNix(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{BigSize: 3 << 20})
	p, _, _ := pushCache(t)
	spool := t.TempDir()
	built := []string{fx.Big, fx.Root}
	sort.Strings(built)

	hook := command(append(nixtest.Env(t), "OUT_PATHS="+strings.Join(built, " "), "PUSH_SPOOL="+spool), "bash", pushHookScript)
	if out, err := hook.CombinedOutput(); err != nil || len(out) != 0 {
		t.Fatalf("hook: %v\n%s", err, out)
	}
	if got := queuedPaths(t, spool); strings.Join(got, " ") != strings.Join(built, " ") {
		t.Fatalf("queued %v, want %v", got, built)
	}
	if tmp, _ := os.ReadDir(filepath.Join(spool, "tmp")); len(tmp) != 0 {
		t.Errorf("the hook left %d temp files", len(tmp))
	}
	// A queue it cannot write does not fail the build.
	broken := command(append(nixtest.Env(t), "OUT_PATHS="+fx.Root, "PUSH_SPOOL=/proc/no-such-queue"), "bash", pushHookScript)
	if out, err := broken.CombinedOutput(); err != nil || !strings.Contains(string(out), "could not queue") {
		t.Errorf("hook with an unwritable queue: %v\n%s", err, out)
	}
	token := writeSecret(t, "push-token", e2ePushToken+"\n")
	upload := func(url string) (string, error) {
		env := append(nixtest.Env(t), "PUSH_SPOOL="+spool, "PUSH_URL="+url, "PUSH_TOKEN_FILE="+token)
		out, err := command(env, "bash", pushQueueScript).CombinedOutput()
		return string(out), err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "?compression=zstd"
	ln.Close()
	if out, err := upload(down); err == nil {
		t.Fatalf("the uploader succeeded with the server down:\n%s", out)
	}
	if got := queuedPaths(t, spool); len(got) != len(built) {
		t.Fatalf("after a failed upload the queue holds %v, want %v", got, built)
	}

	if out, err := upload(p.url() + "?compression=zstd"); err != nil {
		t.Fatalf("uploader: %v\n%s", err, out)
	}
	if got := queuedPaths(t, spool); len(got) != 0 {
		t.Errorf("the queue still holds %v after the upload", got)
	}
	for _, path := range fx.Paths {
		if got := status(t, "GET", p.url()+"/"+hashPartOf(path)+".narinfo"); got != 200 {
			t.Errorf("%s: narinfo %d after the upload", path, got)
		}
	}
	// An empty queue uploads nothing and succeeds.
	if out, err := upload(down); err != nil {
		t.Errorf("uploader with an empty queue: %v\n%s", err, out)
	}
}

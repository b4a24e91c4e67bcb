package mirror

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/internal/tmpfs"
)

// TestDiskFullKeepsServing puts the cache on a 2 MiB tmpfs (needs root;
// skipped otherwise, failed when $CI is set): NARs that do not fit are streamed without storing,
// small ones are still stored, and narinfos keep being served.
func TestDiskFullKeepsServing(t *testing.T) {
	dir := tmpfs.Mount(t, "2m")
	files := map[string][]byte{
		"big":   randomBytes(5, 3<<20),
		"small": []byte("small enough\n"),
	}
	e := newEnv(t, envOptions{files: files, compression: "none", cache: disk.Options{Dir: dir, DiskRetry: 100 * time.Millisecond}})
	for _, p := range e.paths {
		ni := e.narInfo(p)
		want := e.upstreamFile(p)
		for range 2 {
			resp, body, err := e.get(ni.URL)
			if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, want) {
				t.Fatalf("%s: %v", p, err)
			}
		}
		// The commit follows the NarHash check, which may end after the
		// client got its last byte.
		key := strings.TrimPrefix(ni.URL, URLPrefix)
		wantStored := len(want) < 1<<20
		stored := false
		for deadline := time.Now().Add(5 * time.Second); ; {
			n, err := e.fill.OpenNAR(context.Background(), key, nil)
			if stored = err == nil; stored {
				n.Close()
			}
			if stored || !wantStored || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if stored != wantStored {
			t.Errorf("%s (%d bytes) stored = %v, want %v", p, len(want), stored, wantStored)
		}
	}
}

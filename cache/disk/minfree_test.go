package disk

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/internal/tmpfs"
)

// TestMinFreeEvicts keeps 2 MiB free on an 8 MiB tmpfs (needs root;
// skipped otherwise, failed when $CI is set), without MaxSize: commits
// past the floor evict the least recently used files, and so does the
// periodic check when something else fills the file system.
func TestMinFreeEvicts(t *testing.T) {
	dir := tmpfs.Mount(t, "8m")
	const floor = 2 << 20
	c := openTest(t, Options{Dir: dir, MinFreeBytes: floor, FlushInterval: 20 * time.Millisecond})
	data := randomBytes(1, 1<<20)
	for i := range 8 {
		commitBytes(t, c, keyN(i), data)
		time.Sleep(2 * time.Millisecond) // distinct access times
	}
	free, _, ok := fsSpace(dir)
	if !ok || free < floor {
		t.Fatalf("free %d after commits, want at least %d", free, floor)
	}
	_, files := c.Size()
	if files >= 8 || files == 0 {
		t.Fatalf("%d files kept of 8", files)
	}
	if !c.has(keyN(7)) || c.has(keyN(0)) {
		t.Errorf("newest kept %v, oldest kept %v: want only the newest", c.has(keyN(7)), c.has(keyN(0)))
	}

	// Something else takes 1 MiB: the periodic check makes room again.
	if err := os.WriteFile(filepath.Join(dir, "other"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if free, _, _ := fsSpace(dir); free >= floor {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("free space never back over the floor")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, left := c.Size(); left >= files {
		t.Errorf("%d files left, %d before", left, files)
	}
}

// A percentage floor is a share of the file system's size.
func TestMinFreePercent(t *testing.T) {
	f := newFreeFloor(Options{MinFreePercent: 5})
	if got := f.floor(1000_000); got != 50_000 {
		t.Errorf("5%% of 1 MB = %d", got)
	}
	if newFreeFloor(Options{}) != nil {
		t.Error("zero options keep a floor")
	}
}

func (c *Cache) has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files[key] != nil
}

package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// A narinfo read from the pending changes or the index must not go back
// to the LRU over a put, delete or eviction made while it was being read.
func TestNarInfoReadThroughNotStale(t *testing.T) {
	tests := []struct {
		name   string
		reopen bool   // the old narinfo is in the index, not pending
		change string // made during the read: put, delete or evict (its NAR file)
	}{
		{"pending then put", false, "put"},
		{"pending then delete", false, "delete"},
		{"pending then evict", false, "evict"},
		{"index then put", true, "put"},
		{"index then delete", true, "delete"},
		{"index then evict", true, "evict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// Index changes wait for Close: "pending" stays pending.
			opts := Options{Dir: dir, CommitDelay: time.Hour}
			c := openTest(t, opts)
			b := makeBlob(t, 8, "none", true)
			old := testNarInfo(t, b, "p")
			hp := old.HashPart()
			commitBytes(t, c, b.key, b.file)
			if err := c.PutNarInfo(cache.NarInfoEntry{NarInfo: old, Key: b.key, Upstream: "old"}); err != nil {
				t.Fatal(err)
			}
			if tt.reopen {
				c.Close()
				c = openTest(t, opts)
			} else {
				c.hot.remove(hp) // as if pushed out of the LRU
			}
			newer := old.Clone()
			newer.Deriver = "newer.drv"
			c.opts.testHookNarInfoRead = func(string) {
				c.opts.testHookNarInfoRead = nil // once; the hook runs in this goroutine
				var err error
				switch tt.change {
				case "put":
					err = c.PutNarInfo(cache.NarInfoEntry{NarInfo: newer, Key: b.key, Upstream: "new"})
				case "delete":
					err = c.DeleteNarInfo(hp)
				case "evict":
					if removed, _ := c.evictTo(0); removed != 1 {
						err = fmt.Errorf("evicted %d files, want 1", removed)
					}
				}
				if err != nil {
					t.Error(err)
				}
			}
			t.Cleanup(func() { c.opts.testHookNarInfoRead = nil })
			// This read began before the change: it may return the old one.
			if e, err := c.NarInfo(hp); err != nil || e.Upstream != "old" {
				t.Fatalf("read during the change: %v, %v", e, err)
			}
			if c.opts.testHookNarInfoRead != nil {
				t.Fatal("the hook did not run")
			}
			// Every later read sees the change.
			for range 2 {
				e, err := c.NarInfo(hp)
				switch {
				case tt.change != "put" && !errors.Is(err, fs.ErrNotExist):
					t.Fatalf("after %s: %v, %v", tt.change, e, err)
				case tt.change == "put" && (err != nil || e.Upstream != "new" || !bytes.Equal(e.Raw, newer.Bytes())):
					t.Fatalf("after put: %+v, %v", e, err)
				}
			}
		})
	}
}

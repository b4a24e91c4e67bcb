package cache

import (
	"bytes"
	"errors"
	"io/fs"
	"testing"
)

// A narinfo read from the pending changes or the index must not go back
// to the LRU over a put or delete made while it was being read.
func TestNarInfoReadThroughNotStale(t *testing.T) {
	tests := []struct {
		name     string
		reopen   bool // the old narinfo is in the index, not pending
		deleteIt bool // the concurrent change is a delete, not a put
	}{
		{"pending then put", false, false},
		{"pending then delete", false, true},
		{"index then put", true, false},
		{"index then delete", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := openTest(t, Options{Dir: dir})
			b := makeBlob(t, 8, "none", true)
			old := testNarInfo(t, b, "p")
			hp := old.HashPart()
			if err := c.PutNarInfo(NarInfoEntry{NarInfo: old, Key: b.key, Upstream: "old"}); err != nil {
				t.Fatal(err)
			}
			if tt.reopen {
				c.Close()
				c = openTest(t, Options{Dir: dir})
			} else {
				c.hot.remove(hp) // as if pushed out of the LRU
			}
			newer := old.Clone()
			newer.Deriver = "newer.drv"
			testHookNarInfoRead = func(string) {
				testHookNarInfoRead = nil // once; the hook runs in this goroutine
				var err error
				if tt.deleteIt {
					err = c.DeleteNarInfo(hp)
				} else {
					err = c.PutNarInfo(NarInfoEntry{NarInfo: newer, Key: b.key, Upstream: "new"})
				}
				if err != nil {
					t.Error(err)
				}
			}
			t.Cleanup(func() { testHookNarInfoRead = nil })
			// This read began before the change: it may return the old one.
			if e, err := c.NarInfo(hp); err != nil || e.Upstream != "old" {
				t.Fatalf("read during the change: %v, %v", e, err)
			}
			if testHookNarInfoRead != nil {
				t.Fatal("the hook did not run")
			}
			// Every later read sees the change.
			for range 2 {
				e, err := c.NarInfo(hp)
				switch {
				case tt.deleteIt && !errors.Is(err, fs.ErrNotExist):
					t.Fatalf("after delete: %v, %v", e, err)
				case !tt.deleteIt && (err != nil || e.Upstream != "new" || !bytes.Equal(e.Raw, newer.Bytes())):
					t.Fatalf("after put: %+v, %v", e, err)
				}
			}
		})
	}
}

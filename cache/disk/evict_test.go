package disk

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// Eviction goes down to the low-water mark, so that the commits that
// follow do not each sort every file again; GC stays exact.
func TestEvictionLowWater(t *testing.T) {
	const max, file = 100_000, 1000
	c := openTest(t, Options{MaxSize: max})
	i := 0
	for ; i <= max/file; i++ { // the last one is over MaxSize
		commitBytes(t, c, keyN(i), make([]byte, file))
	}
	size, files := c.Size()
	if want := int64(max * 95 / 100); size > want || size < want-file {
		t.Fatalf("after eviction Size() = %d, want about %d", size, want)
	}
	// Room for (MaxSize - low water) / file more files without eviction.
	for range (max - size) / file {
		commitBytes(t, c, keyN(i), make([]byte, file))
		i++
		s, f := c.Size()
		if f != files+1 {
			t.Fatalf("commit %d evicted: %d files, %d bytes (was %d files)", i, f, s, files)
		}
		files = f
	}
	if removed, _ := c.evictTo(max / 2); removed == 0 {
		t.Fatal("evictTo removed nothing")
	}
	if size, _ := c.Size(); size != max/2 {
		t.Fatalf("after evictTo(%d) Size() = %d", max/2, size)
	}
}

// storedNarInfo stores a narinfo for b, naming b's file, and returns its hash part.
func storedNarInfo(t testing.TB, c *Cache, b *blob) string {
	t.Helper()
	ni := testNarInfo(t, b, "p")
	if err := c.PutNarInfo(cache.NarInfoEntry{NarInfo: ni, Key: b.key, Upstream: "up"}); err != nil {
		t.Fatal(err)
	}
	return ni.HashPart()
}

func hasNarInfo(t testing.TB, c *Cache, hashPart string) bool {
	t.Helper()
	_, err := c.NarInfo(hashPart)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// The narinfos of evicted NAR files go with them, however the files go.
func TestEvictionDropsNarInfos(t *testing.T) {
	tests := []struct {
		name    string
		maxSize int64
		// evict removes the file of gone, not that of kept, in the cache
		// in dir (open as c) and returns the cache to check.
		evict func(t *testing.T, c *Cache, dir string, gone, kept *blob) *Cache
	}{
		{"max size", 2000, func(t *testing.T, c *Cache, dir string, gone, kept *blob) *Cache {
			commitBytes(t, c, "zz-newest.nar", make([]byte, 1000)) // 2800 → 1900 bytes
			return c
		}},
		{"gc", 0, func(t *testing.T, c *Cache, dir string, gone, kept *blob) *Cache {
			c.Close()
			if _, err := GC(dir, 1000); err != nil {
				t.Fatal(err)
			}
			return openTest(t, Options{Dir: dir})
		}},
		{"verify", 0, func(t *testing.T, c *Cache, dir string, gone, kept *blob) *Cache {
			c.Close()
			p := filepath.Join(dir, "nar", gone.key[:2], gone.key)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0xff
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if rep, err := Verify(dir); err != nil || len(rep.Bad) != 1 {
				t.Fatalf("Verify = %+v, %v", rep, err)
			}
			return openTest(t, Options{Dir: dir})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := openTest(t, Options{Dir: dir, MaxSize: tt.maxSize})
			gone, kept := makeBlob(t, 900, "none", true), makeBlob(t, 900, "none", true)
			goneHP, keptHP := storedNarInfo(t, c, gone), storedNarInfo(t, c, kept)
			commitBytes(t, c, gone.key, gone.file)
			time.Sleep(2 * time.Millisecond) // gone is the least recently used
			commitBytes(t, c, kept.key, kept.file)
			c = tt.evict(t, c, dir, gone, kept)

			check := func(when string) {
				t.Helper()
				for hp, want := range map[string]bool{goneHP: false, keptHP: true} {
					if got := hasNarInfo(t, c, hp); got != want {
						t.Errorf("%s: narinfo %s present = %v, want %v", when, hp, got, want)
					}
				}
			}
			check("after eviction")
			c.Close()
			c = openTest(t, Options{Dir: dir})
			check("after reopen")
		})
	}
}

// A narinfo stored again after its NAR file was evicted is kept, whether
// the drop is still pending or already written; one that names another
// file of the same path is not dropped.
func TestEvictionKeepsNewerNarInfo(t *testing.T) {
	tests := []struct {
		name       string
		writeFirst bool // the drop is written before the narinfo is stored again
		putAgain   bool
		otherFile  bool // the narinfo names another compression's file
		want       bool
	}{
		{name: "dropped", want: false},
		{name: "stored again while the drop is pending", putAgain: true, want: true},
		{name: "stored again after the drop", writeFirst: true, putAgain: true, want: true},
		{name: "names another file", otherFile: true, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// Index changes wait for Close unless something is urgent.
			opts := Options{Dir: dir, CommitDelay: time.Hour}
			c := openTest(t, opts)
			b := makeBlob(t, 100, "zstd", true)
			ni := testNarInfo(t, b, "p")
			hp := ni.HashPart()
			e := cache.NarInfoEntry{NarInfo: ni, Key: b.key, Upstream: "up"}
			if tt.otherFile {
				e.NarInfo = ni.Clone()
				e.NarInfo.Compression = "xz"
				k, err := narinfo.NarFileKey(hp, ni.NarHash, "xz")
				if err != nil {
					t.Fatal(err)
				}
				e.Key = k
			}
			if err := c.PutNarInfo(e); err != nil {
				t.Fatal(err)
			}
			commitBytes(t, c, b.key, b.file)
			c.Close()
			c = openTest(t, opts) // the narinfo is in the index
			if !hasNarInfo(t, c, hp) {
				t.Fatal("narinfo missing before eviction")
			}
			if removed, _ := c.evictTo(0); removed != 1 {
				t.Fatalf("evicted %d files, want 1", removed)
			}
			if m, _ := c.pending.lookupMeta(hp); !slices.Contains(m.dropOf, b.key) {
				t.Fatalf("pending change after eviction = %+v, want a drop of %s", m, b.key)
			}
			if got := hasNarInfo(t, c, hp); got != tt.otherFile {
				t.Fatalf("narinfo present after eviction = %v, want %v", got, tt.otherFile)
			}
			if tt.writeFirst {
				c.Close()
				c = openTest(t, opts)
			}
			if tt.putAgain {
				if err := c.PutNarInfo(e); err != nil {
					t.Fatal(err)
				}
			}
			if got := hasNarInfo(t, c, hp); got != tt.want {
				t.Fatalf("narinfo present = %v, want %v", got, tt.want)
			}
			c.Close()
			c = openTest(t, opts)
			if got := hasNarInfo(t, c, hp); got != tt.want {
				t.Fatalf("after reopen narinfo present = %v, want %v", got, tt.want)
			}
		})
	}
}

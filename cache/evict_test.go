package cache

import (
	"testing"
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

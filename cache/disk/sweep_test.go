package disk

import (
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// setNarInfoAtime sets the last access of a narinfo in the index.
func setNarInfoAtime(t testing.TB, c *Cache, hashPart string, at time.Time) {
	t.Helper()
	err := c.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketNarInfo).Get([]byte(hashPart)) == nil {
			return fmt.Errorf("no narinfo %s in the index", hashPart)
		}
		return tx.Bucket(bucketNarInfoAtime).Put([]byte(hashPart), encodeTime(at.UnixNano()))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Narinfos whose NAR file is not stored and that nobody read for
// narInfoInactive are dropped; the others are kept.
func TestSweepInactiveNarInfos(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name      string
		age       time.Duration // since the last access in the index
		narStored bool
		inLRU     bool // still in the LRU, read long ago
		readNow   bool // read since, not yet written to the index
		putAgain  bool // stored again since, not yet written to the index
		want      bool
	}{
		{name: "old without NAR", age: 31 * day, want: false},
		{name: "old without NAR in the LRU", age: 31 * day, inLRU: true, want: false},
		{name: "recent without NAR", age: 29 * day, want: true},
		{name: "old with NAR", age: 31 * day, narStored: true, want: true},
		{name: "old, read since", age: 31 * day, readNow: true, want: true},
		{name: "old, stored again since", age: 31 * day, putAgain: true, want: true},
	}
	dir := t.TempDir()
	// No background sweep, and index changes wait for Close.
	opts := Options{Dir: dir, FlushInterval: time.Hour, CommitDelay: time.Hour}
	c := openTest(t, opts)
	entries := make([]cache.NarInfoEntry, len(tests))
	for i, tt := range tests {
		b := makeBlob(t, 100, "none", true)
		entries[i] = cache.NarInfoEntry{NarInfo: testNarInfo(t, b, "p"), Key: b.key, Upstream: "up"}
		if err := c.PutNarInfo(entries[i]); err != nil {
			t.Fatal(err)
		}
		if tt.narStored {
			commitBytes(t, c, b.key, b.file)
		}
	}
	c.Close()
	c = openTest(t, opts)
	now := time.Now()
	for i, tt := range tests {
		hp := entries[i].NarInfo.HashPart()
		if tt.inLRU {
			if !hasNarInfo(t, c, hp) {
				t.Fatalf("%s: narinfo missing before the sweep", tt.name)
			}
			c.touchedNI.forget(hp) // as if that read were long ago
			c.hot.mu.Lock()
			inLRU := c.hot.items[hp] != nil
			c.hot.mu.Unlock()
			if !inLRU {
				t.Fatalf("%s: not in the LRU", tt.name)
			}
		}
		setNarInfoAtime(t, c, hp, now.Add(-tt.age))
		if tt.readNow && !hasNarInfo(t, c, hp) {
			t.Fatalf("%s: narinfo missing before the sweep", tt.name)
		}
		if tt.putAgain {
			if err := c.PutNarInfo(entries[i]); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Small steps: the sweep goes on where it stopped, and starts over.
	const step = 2
	dropped := 0
	for range (len(tests) + step - 1) / step {
		n, err := c.sweepNarInfos(now, step)
		if err != nil {
			t.Fatal(err)
		}
		dropped += n
	}
	if c.sweep.next != nil {
		t.Errorf("sweep did not reach the end: next = %q", c.sweep.next)
	}
	wantDropped := 0
	for _, tt := range tests {
		// The old record of one stored again goes; the pending put
		// replaces it.
		if !tt.want || tt.putAgain {
			wantDropped++
		}
	}
	if dropped != wantDropped {
		t.Errorf("dropped %d narinfos, want %d", dropped, wantDropped)
	}
	check := func(when string) {
		t.Helper()
		for i, tt := range tests {
			if got := hasNarInfo(t, c, entries[i].NarInfo.HashPart()); got != tt.want {
				t.Errorf("%s: %s: narinfo present = %v, want %v", when, tt.name, got, tt.want)
			}
		}
	}
	check("after the sweep")
	if n, err := c.sweepNarInfos(now, len(tests)); err != nil || n != 0 {
		t.Errorf("second pass dropped %d, %v; want 0", n, err)
	}
	c.Close()
	c = openTest(t, opts)
	check("after reopen")
}

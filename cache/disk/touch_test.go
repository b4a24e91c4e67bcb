package disk

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// Reads of many more distinct narinfos than the pending set holds leave it
// at its bound; reads of one already pending still move its time.
func TestPendingTouchesBounded(t *testing.T) {
	const bound, n = 50, 400
	c := openTest(t, Options{FlushInterval: time.Hour, HotNarInfos: 10})
	c.touchedNI.max, c.touchedNar.max = bound, bound
	var hps []string
	for range n {
		b := makeBlob(t, 8, "none", true)
		e := cache.NarInfoEntry{NarInfo: testNarInfo(t, b, "p"), Key: b.key}
		if err := c.PutNarInfo(e); err != nil {
			t.Fatal(err)
		}
		hps = append(hps, e.NarInfo.HashPart())
		if len(hps) <= 2*bound {
			commitBytes(t, c, b.key, b.file)
		}
	}
	waitPendingWritten(t, c)
	for round := range 3 {
		for _, hp := range hps {
			if !hasNarInfo(t, c, hp) {
				t.Fatalf("narinfo %s missing", hp)
			}
		}
		for _, hp := range hps[:2*bound] {
			b := makeBlobKeyOf(t, c, hp)
			f, _, err := c.openFile(b)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		if got := c.touchedNI.len(); got > bound {
			t.Fatalf("round %d: %d narinfo reads pending, bound %d", round, got, bound)
		}
		if got := c.touchedNar.len(); got > bound {
			t.Fatalf("round %d: %d NAR file reads pending, bound %d", round, got, bound)
		}
	}
	first, _ := c.touchedNI.get(hps[0])
	time.Sleep(time.Millisecond)
	c.touchNarInfo(hps[0], time.Now().UnixNano())
	if at, ok := c.touchedNI.get(hps[0]); !ok || at <= first {
		t.Errorf("a read of a pending narinfo did not move its time: %d, then %d", first, at)
	}
	if err := c.flushTouches(); err != nil {
		t.Fatal(err)
	}
	if c.touchedNI.len() != 0 || c.touchedNar.len() != 0 {
		t.Error("reads still pending after a flush")
	}
}

// makeBlobKeyOf returns the NAR file key the stored narinfo of hp names.
func makeBlobKeyOf(t *testing.T, c *Cache, hp string) string {
	t.Helper()
	e, err := c.NarInfo(hp)
	if err != nil {
		t.Fatal(err)
	}
	return e.Key
}

// waitPendingWritten waits until the background writer has written every
// pending index change.
func waitPendingWritten(t *testing.T, c *Cache) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c.pending.mu.Lock()
		n := len(c.pending.meta) + len(c.pending.nars)
		c.pending.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d index changes still pending", n)
		}
	}
}

// A flush moves a narinfo's last read in narinfo-atime, never its record,
// and only when the stored one is older by narInfoTouchSlack; it writes
// no last read of a narinfo gone meanwhile.
func TestFlushWritesLastReadsApart(t *testing.T) {
	c := openTest(t, Options{FlushInterval: time.Hour})
	var hps []string
	for range 3 {
		b := makeBlob(t, 8, "none", true)
		e := cache.NarInfoEntry{NarInfo: testNarInfo(t, b, "p"), Key: b.key}
		if err := c.PutNarInfo(e); err != nil {
			t.Fatal(err)
		}
		hps = append(hps, e.NarInfo.HashPart())
	}
	waitPendingWritten(t, c)
	old := time.Now().Add(-48 * time.Hour)
	setNarInfoAtime(t, c, hps[0], old)
	record := func(hp string) (rec, at []byte) {
		_ = c.db.View(func(tx *bolt.Tx) error {
			rec = bytes.Clone(tx.Bucket(bucketNarInfo).Get([]byte(hp)))
			at = bytes.Clone(tx.Bucket(bucketNarInfoAtime).Get([]byte(hp)))
			return nil
		})
		return rec, at
	}
	rec0, _ := record(hps[0])
	_, at1 := record(hps[1])
	now := time.Now().UnixNano()
	for _, hp := range hps {
		c.touchNarInfo(hp, now)
	}
	if err := c.DeleteNarInfo(hps[2]); err != nil {
		t.Fatal(err)
	}
	waitPendingWritten(t, c)
	if err := c.flushTouches(); err != nil {
		t.Fatal(err)
	}
	rec, at := record(hps[0])
	if got, _ := decodeTime(at); got != now {
		t.Errorf("last read after the flush %d, want %d", got, now)
	}
	if !bytes.Equal(rec, rec0) {
		t.Error("the flush rewrote the narinfo record")
	}
	if _, at := record(hps[1]); !bytes.Equal(at, at1) {
		t.Error("a read within the slack of the stored one was written")
	}
	if _, at := record(hps[2]); at != nil {
		t.Error("the last read of a deleted narinfo was written")
	}
}

// The negative sweep deletes the expired entries oldest first, at most
// limit per step, and leaves renewed and live ones.
func TestNegativeSweepBounded(t *testing.T) {
	c := openTest(t, Options{FlushInterval: time.Hour, NegativeTTL: time.Hour})
	hp := func(i int) string { return fmt.Sprintf("%032d", i) }
	now := time.Now()
	err := c.db.Update(func(tx *bolt.Tx) error {
		neg, exp := tx.Bucket(bucketNegative), tx.Bucket(bucketNegativeExpiry)
		for i := range 10 {
			v := encodeExpiry(now.Add(-time.Duration(10-i) * time.Minute)) // 0 is the oldest
			if err := putNegativeEntry(neg, exp, []byte(hp(i)), v); err != nil {
				return err
			}
		}
		return putNegativeEntry(neg, exp, []byte(hp(10)), encodeExpiry(now.Add(time.Hour)))
	})
	if err != nil {
		t.Fatal(err)
	}
	// Renewed: its expired key in negative-expiry is replaced.
	if err := c.PutNegative(hp(1)); err != nil {
		t.Fatal(err)
	}
	waitPendingWritten(t, c)
	if n, err := c.sweepNegatives(3); err != nil || n != 3 {
		t.Fatalf("first step dropped %d, %v; want 3 (0, 2 and 3: 1 is renewed)", n, err)
	}
	_ = c.db.View(func(tx *bolt.Tx) error {
		for i, want := range []bool{false, true, false, false, true} {
			if got := tx.Bucket(bucketNegative).Get([]byte(hp(i))) != nil; got != want {
				t.Errorf("after the first step: entry %d present = %v, want %v", i, got, want)
			}
		}
		return nil
	})
	total := 3
	for range 5 {
		n, err := c.sweepNegatives(3)
		if err != nil {
			t.Fatal(err)
		}
		if n > 3 {
			t.Fatalf("a step of 3 dropped %d", n)
		}
		total += n
	}
	if total != 9 {
		t.Errorf("dropped %d expired entries, want 9", total)
	}
	_ = c.db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketNegative).Stats().KeyN; n != 2 {
			t.Errorf("%d negative entries left, want the renewed and the live one", n)
		}
		if n := tx.Bucket(bucketNegativeExpiry).Stats().KeyN; n != 2 {
			t.Errorf("%d keys left in negative-expiry, want 2", n)
		}
		return nil
	})
	if !c.Negative(hp(1)) || !c.Negative(hp(10)) {
		t.Error("a live negative entry was swept")
	}
}

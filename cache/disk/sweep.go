package disk

import (
	"bytes"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// narInfoInactive is how long a narinfo whose NAR file is not stored stays
// without being read, like nginx's proxy_cache inactive=. One whose NAR
// file is stored goes when the file is evicted (forgetNarFiles).
const narInfoInactive = 30 * 24 * time.Hour

// sweepChunk bounds the last reads (narinfo-atime, 40 bytes each) one
// sweep step reads, and the narinfos it deletes, so that a step holds the
// index for milliseconds. At one step per FlushInterval (5s), a million
// narinfos are gone through in under 1.5 hours.
const sweepChunk = 1000

// narInfoSweep is where the inactive narinfo sweep goes on from.
type narInfoSweep struct {
	mu   sync.Mutex
	next []byte // hash part the next step starts at; nil: the first
}

// sweepCandidate is a narinfo not read since the cutoff, as the index says.
type sweepCandidate struct {
	hashPart []byte
	key      string
}

// sweepNarInfos reads up to limit narinfos from where the previous step
// stopped, starting over after the last, and drops those inactive at now:
// their NAR file neither stored nor being downloaded, and not read since
// now minus narInfoInactive. It returns how many it dropped.
func (c *Cache) sweepNarInfos(now time.Time, limit int) (int, error) {
	c.sweep.mu.Lock()
	defer c.sweep.mu.Unlock()
	cutoff := now.Add(-narInfoInactive).UnixNano()
	old, err := c.sweepCandidates(cutoff, limit)
	if err != nil || len(old) == 0 {
		return 0, err
	}
	inactive := c.stillInactive(old, cutoff)
	if len(inactive) == 0 {
		return 0, nil
	}
	dropped, err := c.deleteInactive(inactive, cutoff)
	if err != nil {
		return 0, err
	}
	// Once the deletes are visible, as DeleteNarInfo does. A narinfo put
	// meanwhile is still pending and replaces the deleted one.
	for _, hashPart := range dropped {
		c.hot.remove(hashPart)
	}
	if len(dropped) > 0 {
		c.log.Debug("dropped inactive narinfos", "count", len(dropped))
	}
	return len(dropped), nil
}

// sweepCandidates reads the next limit last reads of the sweep and returns
// the narinfos not read since cutoff. A last read without its narinfo
// (none is written so) is a candidate with no key, and goes too.
func (c *Cache) sweepCandidates(cutoff int64, limit int) ([]sweepCandidate, error) {
	var old []sweepCandidate
	err := c.db.View(func(tx *bolt.Tx) error {
		ni := tx.Bucket(bucketNarInfo)
		cur := tx.Bucket(bucketNarInfoAtime).Cursor()
		k, v := cur.First()
		if c.sweep.next != nil {
			k, v = cur.Seek(c.sweep.next)
		}
		for n := 0; k != nil && n < limit; k, v = cur.Next() {
			n++
			if at, ok := decodeTime(v); !ok || at < cutoff {
				old = append(old, sweepCandidate{bytes.Clone(k), recordKey(ni.Get(k))})
			}
		}
		c.sweep.next = bytes.Clone(k) // nil after the last: start over
		return nil
	})
	return old, err
}

// stillInactive drops from old the narinfos whose file is stored or being
// downloaded, or that were read lately.
func (c *Cache) stillInactive(old []sweepCandidate, cutoff int64) []sweepCandidate {
	c.mu.Lock()
	defer c.mu.Unlock()
	inactive := old[:0]
	for _, o := range old {
		if o.key != "" && (c.files[o.key] != nil || c.incoming.has(o.key)) {
			continue
		}
		if at, ok := c.touchedNI.get(string(o.hashPart)); ok && at >= cutoff {
			continue // read lately; the index does not know yet
		}
		inactive = append(inactive, o)
	}
	return inactive
}

// deleteInactive deletes the narinfos that are still as they were read,
// with their last reads, and returns the hash parts of the narinfos it
// deleted.
func (c *Cache) deleteInactive(inactive []sweepCandidate, cutoff int64) ([]string, error) {
	var dropped []string
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := metaBucketsOf(tx)
		for _, o := range inactive {
			// Re-check: it may have been stored again or read meanwhile.
			v := b.narInfo.Get(o.hashPart)
			if at, ok := decodeTime(b.atime.Get(o.hashPart)); (ok && at >= cutoff) || recordKey(v) != o.key {
				continue
			}
			if err := b.deleteNarInfo(o.hashPart); err != nil {
				return err
			}
			if v != nil {
				dropped = append(dropped, string(o.hashPart))
			}
		}
		return nil
	})
	return dropped, err
}

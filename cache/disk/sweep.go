package disk

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// narInfoInactive is how long a narinfo whose NAR file is not stored stays
// without being read, like nginx's proxy_cache inactive=. One whose NAR
// file is stored goes when the file is evicted (forgetNarFiles).
const narInfoInactive = 30 * 24 * time.Hour

// sweepChunk bounds the narinfos one sweep step reads and deletes, so that
// a step holds the index for milliseconds. At one step per FlushInterval
// (5s), a million narinfos are gone through in under 1.5 hours.
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

// sweepCandidates reads the next limit narinfos of the sweep and returns
// those not read since cutoff.
func (c *Cache) sweepCandidates(cutoff int64, limit int) ([]sweepCandidate, error) {
	var old []sweepCandidate
	err := c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketNarInfo).Cursor()
		k, v := cur.First()
		if c.sweep.next != nil {
			k, v = cur.Seek(c.sweep.next)
		}
		for n := 0; k != nil && n < limit; k, v = cur.Next() {
			n++
			var h narInfoHead
			if json.Unmarshal(v, &h) == nil && h.Atime < cutoff {
				old = append(old, sweepCandidate{bytes.Clone(k), h.Key})
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
		if c.files[o.key] != nil || c.incoming.has(o.key) {
			continue
		}
		if at, ok := c.touchedNI[string(o.hashPart)]; ok && at >= cutoff {
			continue // read lately; the index does not know yet
		}
		inactive = append(inactive, o)
	}
	return inactive
}

// deleteInactive deletes the narinfos that are still as they were read,
// and returns the hash parts it deleted.
func (c *Cache) deleteInactive(inactive []sweepCandidate, cutoff int64) ([]string, error) {
	var dropped []string
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNarInfo)
		for _, o := range inactive {
			// Re-check: it may have been stored again or read meanwhile.
			var h narInfoHead
			v := b.Get(o.hashPart)
			if v == nil || json.Unmarshal(v, &h) != nil || h.Atime >= cutoff || h.Key != o.key {
				continue
			}
			if err := b.Delete(o.hashPart); err != nil {
				return err
			}
			dropped = append(dropped, string(o.hashPart))
		}
		return nil
	})
	return dropped, err
}

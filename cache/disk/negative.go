package disk

import (
	"bytes"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Negative entries are kept twice: hash part → expiry in the negative
// bucket, for lookups, and expiry ‖ hash part in negative-expiry, so that
// the sweep reads only the expired ones, oldest first, and at most
// negativeSweepChunk of them per step.

// negativeSweepChunk bounds the expired entries one sweep step deletes.
// At one step per FlushInterval (5s) that is 2,000 expiries a second,
// more than lookups of missing paths make.
const negativeSweepChunk = 10000

func encodeExpiry(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
}

func decodeExpiry(v []byte) (time.Time, bool) {
	if len(v) != 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), true
}

// expiryKey is the negative-expiry key of an entry: its 8-byte expiry,
// then its hash part.
func expiryKey(expiry, hashPart []byte) []byte {
	k := make([]byte, 0, len(expiry)+len(hashPart))
	return append(append(k, expiry...), hashPart...)
}

// putNegativeEntry stores the negative entry of hashPart with expiry v,
// replacing any earlier one in both buckets.
func putNegativeEntry(neg, exp *bolt.Bucket, hashPart, v []byte) error {
	if err := deleteNegativeEntry(neg, exp, hashPart); err != nil {
		return err
	}
	if err := neg.Put(hashPart, v); err != nil {
		return err
	}
	return exp.Put(expiryKey(v, hashPart), []byte{})
}

// deleteNegativeEntry deletes the negative entry of hashPart, if any.
func deleteNegativeEntry(neg, exp *bolt.Bucket, hashPart []byte) error {
	old := neg.Get(hashPart)
	if old == nil {
		return nil
	}
	if err := exp.Delete(expiryKey(old, hashPart)); err != nil {
		return err
	}
	return neg.Delete(hashPart)
}

// sweepNegatives drops up to limit expired negative entries, oldest first,
// and returns how many. A step with nothing expired only reads the first
// key of negative-expiry.
func (c *Cache) sweepNegatives(limit int) (int, error) {
	now := encodeExpiry(time.Now())
	expired := func(k []byte) bool { return len(k) >= 8 && bytes.Compare(k[:8], now) < 0 }
	due := false
	err := c.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketNegativeExpiry).Cursor().First()
		due = k != nil && expired(k)
		return nil
	})
	if err != nil || !due {
		return 0, err
	}
	dropped := 0
	err = c.db.Update(func(tx *bolt.Tx) error {
		neg, exp := tx.Bucket(bucketNegative), tx.Bucket(bucketNegativeExpiry)
		var done [][]byte
		cur := exp.Cursor()
		for k, _ := cur.First(); k != nil && expired(k) && len(done) < limit; k, _ = cur.Next() {
			done = append(done, bytes.Clone(k))
		}
		for _, k := range done {
			// A renewed entry has another key here; this one is stale.
			if hashPart := k[8:]; bytes.Equal(neg.Get(hashPart), k[:8]) {
				if err := neg.Delete(hashPart); err != nil {
					return err
				}
				dropped++
			}
			if err := exp.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return dropped, err
}

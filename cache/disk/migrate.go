package disk

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// indexFormat is the format of the index this code writes, kept under
// formatKey in the meta bucket:
//
//   - none (before): narinfo and nar records are JSON, a narinfo's last
//     read inside its record, no expiry order of the negative entries;
//   - 1: records of version 1 (record.go), last reads in narinfo-atime,
//     negative-expiry ordering the negative entries.
//
// Nar records of the JSON format are read as they are and rewritten at
// their next change; narinfo records and negative entries are migrated at
// Open, so that the sweeps need not look for the old ones.
const indexFormat = 1

var formatKey = []byte("format")

// migrateBatch bounds the records one migration transaction rewrites (a
// variable for the tests).
var migrateBatch = 10000

// migrateIndex brings an index of an earlier format to indexFormat, in
// transactions of migrateBatch records: a crash in between leaves records
// of both formats, which the next Open goes on with.
func (c *Cache) migrateIndex() error {
	var format byte
	err := c.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(formatKey); len(v) == 1 {
			format = v[0]
		}
		return nil
	})
	if err != nil || format >= indexFormat {
		return err
	}
	narInfos, err := migrateInBatches(c.db, bucketNarInfo, migrateNarInfos)
	if err != nil {
		return fmt.Errorf("migrate narinfo records: %w", err)
	}
	negatives, err := migrateInBatches(c.db, bucketNegative, migrateNegatives)
	if err != nil {
		return fmt.Errorf("migrate negative entries: %w", err)
	}
	err = c.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(formatKey, []byte{indexFormat})
	})
	if err != nil {
		return fmt.Errorf("migrate cache index: %w", err)
	}
	if narInfos+negatives > 0 {
		c.log.Info("migrated cache index", "format", indexFormat, "narinfos", narInfos, "negative_entries", negatives)
	}
	return nil
}

// migrateInBatches walks bucket name in transactions of migrateBatch
// entries; migrate rewrites the entries of one, copied out of the bucket,
// and returns how many it changed.
func migrateInBatches(db *bolt.DB, name []byte, migrate func(tx *bolt.Tx, keys, vals [][]byte) (int, error)) (int, error) {
	var after []byte // last key done; nil: none yet
	total := 0
	for {
		done := false
		err := db.Update(func(tx *bolt.Tx) error {
			cur := tx.Bucket(name).Cursor()
			k, v := cur.First()
			if after != nil {
				if k, v = cur.Seek(after); bytes.Equal(k, after) {
					k, v = cur.Next()
				}
			}
			var keys, vals [][]byte
			for ; k != nil && len(keys) < migrateBatch; k, v = cur.Next() {
				keys, vals = append(keys, bytes.Clone(k)), append(vals, bytes.Clone(v))
			}
			if len(keys) == 0 {
				done = true
				return nil
			}
			after = keys[len(keys)-1]
			n, err := migrate(tx, keys, vals)
			total += n
			return err
		})
		if err != nil || done {
			return total, err
		}
	}
}

// migrateNarInfos rewrites JSON narinfo records as version 1 records and
// moves their last read to narinfo-atime. Unreadable ones are dropped.
func migrateNarInfos(tx *bolt.Tx, keys, vals [][]byte) (int, error) {
	ni, at := tx.Bucket(bucketNarInfo), tx.Bucket(bucketNarInfoAtime)
	n := 0
	for i, k := range keys {
		if len(vals[i]) > 0 && vals[i][0] != jsonRecordStart {
			continue // migrated already
		}
		n++
		var j jsonNarInfoRecord
		if json.Unmarshal(vals[i], &j) != nil {
			if err := ni.Delete(k); err != nil {
				return n, err
			}
			continue
		}
		rec := j.record()
		if err := ni.Put(k, rec.encode()); err != nil {
			return n, err
		}
		if err := at.Put(k, encodeTime(j.Atime)); err != nil {
			return n, err
		}
	}
	return n, nil
}

// migrateNegatives adds every negative entry to negative-expiry, and drops
// unreadable ones.
func migrateNegatives(tx *bolt.Tx, keys, vals [][]byte) (int, error) {
	neg, exp := tx.Bucket(bucketNegative), tx.Bucket(bucketNegativeExpiry)
	for i, k := range keys {
		if len(vals[i]) != 8 {
			if err := neg.Delete(k); err != nil {
				return i, err
			}
			continue
		}
		if err := exp.Put(expiryKey(vals[i], k), []byte{}); err != nil {
			return i, err
		}
	}
	return len(keys), nil
}

func encodeTime(t int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(t)) }

// decodeTime reads an 8-byte time; ok is false for anything else.
func decodeTime(v []byte) (t int64, ok bool) {
	if len(v) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), true
}

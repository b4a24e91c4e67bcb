package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// pushAges records when each pushed narinfo was stored and which NAR file
// it names, beside the pushed store's own index (which keeps neither), so
// that paths expire oldest first and a NAR file goes with the last
// narinfo naming it.
type pushAges struct{ db *bolt.DB }

var (
	bucketAgePaths = []byte("paths")   // hash part → pushAge
	bucketAgeOrder = []byte("by-time") // unix nanos (big endian) + hash part → nothing
	bucketAgeNARs  = []byte("nars")    // NAR name + "/" + hash part → nothing
)

type pushAge struct {
	NAR string `json:"nar"`
	At  int64  `json:"at"` // unix nanos
}

func openPushAges(dir string, lockTimeout time.Duration) (*pushAges, error) {
	path := filepath.Join(dir, "ages.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("another process holds %s", path)
	} else if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAgePaths, bucketAgeOrder, bucketAgeNARs} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	return &pushAges{db: db}, nil
}

func (a *pushAges) Close() error { return a.db.Close() }

func orderKey(at int64, hashPart string) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(at))
	return append(k, hashPart...)
}

func narKey(nar, hashPart string) []byte { return []byte(nar + "/" + hashPart) }

// put records that hashPart, naming nar, was stored at at, in place of
// what it was before.
func (a *pushAges) put(hashPart, nar string, at time.Time) error {
	return a.db.Update(func(tx *bolt.Tx) error {
		if _, err := forget(tx, hashPart, anyAge); err != nil {
			return err
		}
		v, err := json.Marshal(pushAge{NAR: nar, At: at.UnixNano()})
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketAgePaths).Put([]byte(hashPart), v); err != nil {
			return err
		}
		if err := tx.Bucket(bucketAgeOrder).Put(orderKey(at.UnixNano(), hashPart), nil); err != nil {
			return err
		}
		return tx.Bucket(bucketAgeNARs).Put(narKey(nar, hashPart), nil)
	})
}

// anyAge makes forget drop a record whatever its time.
const anyAge = -1

// forget drops the records of hashPart, when stored at at (or anyAge),
// and returns the NAR it named ("" when it dropped none).
func forget(tx *bolt.Tx, hashPart string, at int64) (string, error) {
	paths := tx.Bucket(bucketAgePaths)
	v := paths.Get([]byte(hashPart))
	if v == nil {
		return "", nil
	}
	var old pushAge
	if err := json.Unmarshal(v, &old); err != nil {
		return "", fmt.Errorf("age of %s: %w", hashPart, err)
	}
	if at != anyAge && old.At != at {
		return "", nil // pushed again since
	}
	if err := tx.Bucket(bucketAgeOrder).Delete(orderKey(old.At, hashPart)); err != nil {
		return "", err
	}
	if err := tx.Bucket(bucketAgeNARs).Delete(narKey(old.NAR, hashPart)); err != nil {
		return "", err
	}
	return old.NAR, paths.Delete([]byte(hashPart))
}

// named reports whether a narinfo still names nar.
func named(tx *bolt.Tx, nar string) bool {
	prefix := []byte(nar + "/")
	k, _ := tx.Bucket(bucketAgeNARs).Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix)
}

// agedPath is a pushed narinfo and when it was stored.
type agedPath struct {
	hashPart string
	at       int64 // unix nanos
}

// olderThan returns up to limit paths stored before cutoff, oldest first.
func (a *pushAges) olderThan(cutoff time.Time, limit int) ([]agedPath, error) {
	var out []agedPath
	err := a.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketAgeOrder).Cursor()
		for k, _ := cur.First(); k != nil && len(out) < limit; k, _ = cur.Next() {
			if len(k) <= 8 {
				continue
			}
			at := int64(binary.BigEndian.Uint64(k[:8]))
			if at >= cutoff.UnixNano() {
				break
			}
			out = append(out, agedPath{hashPart: string(k[8:]), at: at})
		}
		return nil
	})
	return out, err
}

// remove forgets paths (those pushed again since stay) and returns the
// NAR files no narinfo names any more.
func (a *pushAges) remove(paths []agedPath) ([]string, error) {
	var unnamed []string
	err := a.db.Update(func(tx *bolt.Tx) error {
		unnamed = nil
		seen := map[string]bool{}
		for _, p := range paths {
			nar, err := forget(tx, p.hashPart, p.at)
			if err != nil {
				return err
			}
			if nar != "" && !seen[nar] {
				seen[nar] = true
				unnamed = append(unnamed, nar)
			}
		}
		// Once all are forgotten: two of them may name one NAR.
		unnamed = slices.DeleteFunc(unnamed, func(nar string) bool { return named(tx, nar) })
		return nil
	})
	return unnamed, err
}

package disk

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// Index buckets. Values are copied out of transactions before use.
var (
	bucketNarInfo  = []byte("narinfo")  // hash part → narInfoRecord (JSON)
	bucketNar      = []byte("nar")      // file key → narRecord (JSON)
	bucketNegative = []byte("negative") // hash part → expiry, unix nanos, big endian
)

type narInfoRecord struct {
	NarInfo     []byte `json:"narinfo"`                // as served
	Key         string `json:"key"`                    // NAR file key
	FileSize    uint64 `json:"file_size"`              // of the NAR file, 0 when unknown
	Upstream    string `json:"upstream"`               // name of the upstream it came from
	UpstreamURL string `json:"upstream_url"`           // NAR URL at that upstream
	UpstreamKey string `json:"upstream_key,omitempty"` // key of the upstream's file, when Key is a re-encoded copy
	Atime       int64  `json:"atime"`                  // last access, unix nanos
}

// narInfoHead is what the sweeps read of a narInfoRecord: decoding it
// skips the narinfo.
type narInfoHead struct {
	Key   string `json:"key"`
	Atime int64  `json:"atime"`
}

// recordKey returns the NAR file key a narInfoRecord names ("" if unreadable).
func recordKey(v []byte) string {
	var h narInfoHead
	if json.Unmarshal(v, &h) != nil {
		return ""
	}
	return h.Key
}

type narRecord struct {
	Size     int64 `json:"size"`
	Atime    int64 `json:"atime"`
	Complete bool  `json:"complete"` // always true: entries are written after the rename
}

func (c *Cache) initIndex() error {
	err := c.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketNarInfo, bucketNar, bucketNegative} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("init cache index: %w", err)
	}
	return nil
}

// reconcile makes the index and the files agree: temp files are removed,
// files without an entry (or of the wrong size) are removed, and entries
// without a file are dropped.
func (c *Cache) reconcile() error {
	if err := c.sweepTemp(); err != nil {
		return err
	}
	if err := c.loadNarEntries(); err != nil {
		return err
	}
	seen, orphans, err := c.removeOrphans()
	if err != nil {
		return err
	}
	var missing []string
	for key, e := range c.files {
		if seen[key] {
			c.total += e.size
			continue
		}
		missing = append(missing, key)
		delete(c.files, key)
	}
	if err := c.dropNarEntries(missing); err != nil {
		return err
	}
	if orphans > 0 || len(missing) > 0 {
		c.log.Info("reconciled cache", "removed_files", orphans, "dropped_entries", len(missing))
	}
	return nil
}

// sweepTemp removes the temp files a previous run left.
func (c *Cache) sweepTemp() error {
	tmps, err := os.ReadDir(c.tmpDir)
	if err != nil {
		return fmt.Errorf("sweep temp files: %w", err)
	}
	for _, e := range tmps {
		if err := os.RemoveAll(filepath.Join(c.tmpDir, e.Name())); err != nil {
			return fmt.Errorf("sweep temp files: %w", err)
		}
	}
	if len(tmps) > 0 {
		c.log.Info("removed leftover temp files", "count", len(tmps))
	}
	return nil
}

// loadNarEntries reads the NAR file entries of the index into c.files.
func (c *Cache) loadNarEntries() error {
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNar).ForEach(func(k, v []byte) error {
			var r narRecord
			if json.Unmarshal(v, &r) != nil || !r.Complete {
				return nil // dropped as an entry without a file
			}
			c.files[string(k)] = &fileEntry{size: r.Size, atime: r.Atime}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("read cache index: %w", err)
	}
	return nil
}

// removeOrphans removes the files that have no entry in c.files (or
// another size, or a name out of place), and returns the keys it kept.
func (c *Cache) removeOrphans() (seen map[string]bool, orphans int, err error) {
	seen = make(map[string]bool, len(c.files))
	err = filepath.WalkDir(c.narDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		key := d.Name()
		e, ok := c.files[key]
		info, ierr := d.Info()
		if ok && ierr == nil && validKey(key) && p == c.narPath(key) && info.Size() == e.size {
			seen[key] = true
			return nil
		}
		orphans++
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("scan cache files: %w", err)
	}
	return seen, orphans, nil
}

// dropNarEntries deletes the index entries of files that are not there.
func (c *Cache) dropNarEntries(missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNar)
		for _, k := range missing {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("drop index entries without file: %w", err)
	}
	return nil
}

// putNarFile records a committed NAR file. The entry is written in the
// background: lost in a crash, the file is removed at the next Open.
func (c *Cache) putNarFile(key string, e fileEntry) error {
	v, err := json.Marshal(narRecord{Size: e.size, Atime: e.atime, Complete: true})
	if err != nil {
		return err
	}
	return c.pending.changeNar(key, v)
}

// forgetNarFiles drops the entries of removed NAR files and the narinfos
// that name them: as in a proxy cache, what was evicted is asked upstream
// again. The narinfo naming a file is found through its name, NarKey's
// (the mirror's names); a narinfo naming a file called otherwise is left
// to the inactive sweep (sweep.go).
func (c *Cache) forgetNarFiles(keys []string) error {
	for _, k := range keys {
		if err := c.pending.changeNar(k, nil); err != nil {
			return err
		}
	}
	refs := make(map[string][]string, len(keys))
	for _, k := range keys {
		if hashPart, _, _, ok := narinfo.ParseNarFileKey(k); ok {
			refs[hashPart] = append(refs[hashPart], k)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	if err := c.pending.dropNarInfosOf(refs); err != nil {
		return err
	}
	// Once the drops are visible, as DeleteNarInfo does: a read-through
	// fill that began before them is then refused.
	for hashPart := range refs {
		c.hot.remove(hashPart)
	}
	return nil
}

// flushTouches writes the batched last-access times to the index.
func (c *Cache) flushTouches() error {
	c.mu.Lock()
	nars, nis := c.touchedNar, c.touchedNI
	if len(nars) == 0 && len(nis) == 0 {
		c.mu.Unlock()
		return nil
	}
	c.touchedNar = make(map[string]int64)
	c.touchedNI = make(map[string]int64)
	c.mu.Unlock()
	return c.db.Update(func(tx *bolt.Tx) error {
		if err := raiseAtimes[narRecord](tx.Bucket(bucketNar), nars); err != nil {
			return err
		}
		return raiseAtimes[narInfoRecord](tx.Bucket(bucketNarInfo), nis)
	})
}

// atimed is a record of the index with a last access time.
type atimed[R any] interface {
	*R
	atime() *int64
}

func (r *narRecord) atime() *int64     { return &r.Atime }
func (r *narInfoRecord) atime() *int64 { return &r.Atime }

// raiseAtimes moves the last access of each record of b named in touches
// forward to its time there; records gone meanwhile are skipped.
func raiseAtimes[R any, P atimed[R]](b *bolt.Bucket, touches map[string]int64) error {
	for k, at := range touches {
		v := b.Get([]byte(k))
		if v == nil {
			continue // evicted meanwhile
		}
		var r R
		if json.Unmarshal(v, P(&r)) != nil || *P(&r).atime() >= at {
			continue
		}
		*P(&r).atime() = at
		nv, err := json.Marshal(P(&r))
		if err != nil {
			return err
		}
		if err := b.Put([]byte(k), nv); err != nil {
			return err
		}
	}
	return nil
}

func encodeExpiry(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))
}

func decodeExpiry(v []byte) (time.Time, bool) {
	if len(v) != 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))), true
}

// sweepNegatives drops expired negative entries.
func (c *Cache) sweepNegatives() error {
	now := time.Now()
	var expired [][]byte
	err := c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNegative).ForEach(func(k, v []byte) error {
			if exp, ok := decodeExpiry(v); !ok || now.After(exp) {
				expired = append(expired, append([]byte(nil), k...))
			}
			return nil
		})
	})
	if err != nil || len(expired) == 0 {
		return err
	}
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNegative)
		for _, k := range expired {
			// Re-check: the entry may have been renewed since.
			if exp, ok := decodeExpiry(b.Get(k)); ok && now.Before(exp) {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

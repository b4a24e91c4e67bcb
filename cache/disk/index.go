package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// Index buckets. Values are copied out of transactions before use.
var (
	bucketNarInfo        = []byte("narinfo")         // hash part → narinfo record (record.go)
	bucketNarInfoAtime   = []byte("narinfo-atime")   // hash part → last read, unix nanos, big endian
	bucketNar            = []byte("nar")             // file key → nar record (record.go)
	bucketNegative       = []byte("negative")        // hash part → expiry, unix nanos, big endian
	bucketNegativeExpiry = []byte("negative-expiry") // expiry ‖ hash part → nothing (negative.go)
	bucketMeta           = []byte("meta")            // formatKey → index format (migrate.go)
)

func (c *Cache) initIndex() error {
	err := c.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketNarInfo, bucketNarInfoAtime, bucketNar, bucketNegative, bucketNegativeExpiry, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("init cache index: %w", err)
	}
	return c.migrateIndex()
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
			r, ok := decodeNarRecord(v)
			if !ok {
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
	return c.pending.changeNar(key, narRecord{Size: e.size, Atime: e.atime}.encode())
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

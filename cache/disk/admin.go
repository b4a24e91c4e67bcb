package disk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// openOffline opens dir for a maintenance command, failing fast with a
// clear message when a server holds it.
func openOffline(dir string, maxSize int64) (*Cache, error) {
	c, err := Open(Options{Dir: dir, MaxSize: maxSize, LockTimeout: 500 * time.Millisecond})
	if errors.Is(err, ErrLocked) {
		return nil, fmt.Errorf("index is locked by a running server (stop it first): %w", err)
	}
	return c, err
}

// GCResult says what GC did.
type GCResult struct {
	Removed int   // files evicted
	Freed   int64 // bytes evicted
	Size    int64 // bytes left
	Files   int   // files left
}

// GC evicts least recently used NAR files, with the narinfos that name
// them, from the cache in dir until it holds at most maxSize bytes. It
// fails when a server holds the index.
func GC(dir string, maxSize int64) (GCResult, error) {
	if maxSize < 0 {
		return GCResult{}, fmt.Errorf("gc: negative size %d", maxSize)
	}
	c, err := openOffline(dir, 0)
	if err != nil {
		return GCResult{}, err
	}
	var r GCResult
	r.Removed, r.Freed = c.evictTo(maxSize)
	r.Size, r.Files = c.Size()
	return r, c.Close()
}

// VerifyReport says what Verify found.
type VerifyReport struct {
	Checked      int      // files checked
	Bytes        int64    // bytes read
	Bad          []string // keys of files that did not match, now removed with their narinfos
	Unverifiable []string // keys with nothing to check them against, kept
}

// Verify re-hashes every stored NAR file against its narinfo (FileHash
// and FileSize when known, and NarHash and NarSize after decompressing
// when the compression can be decoded here) and removes the bad ones, with
// the narinfos that name them. It fails when a server holds the index.
func Verify(dir string) (VerifyReport, error) {
	var rep VerifyReport
	c, err := openOffline(dir, 0)
	if err != nil {
		return rep, err
	}
	defer c.Close()

	specs := make(map[string]*FillSpec) // by key, from the narinfos
	err = c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNarInfo).ForEach(func(k, v []byte) error {
			var r narInfoRecord
			if json.Unmarshal(v, &r) != nil {
				return nil
			}
			ni, err := narinfo.ParseBytes(r.NarInfo)
			if err != nil {
				return nil
			}
			specs[r.Key] = &FillSpec{Compression: ni.Compression, FileHash: ni.FileHash,
				FileSize: ni.FileSize, NarHash: ni.NarHash, NarSize: ni.NarSize}
			return nil
		})
	})
	if err != nil {
		return rep, fmt.Errorf("verify: read index: %w", err)
	}
	c.mu.Lock()
	keys := make([]string, 0, len(c.files))
	for k := range c.files {
		keys = append(keys, k)
	}
	c.mu.Unlock()

	var bad []string
	for _, key := range keys {
		spec := specs[key]
		if spec == nil {
			if _, h, comp, ok := narinfo.ParseNarFileKey(key); ok {
				spec = &FillSpec{Compression: comp, NarHash: h}
			}
		}
		if spec == nil || (spec.FileHash == nil && !narinfo.CanDecode(spec.Compression)) {
			rep.Unverifiable = append(rep.Unverifiable, key)
			continue
		}
		n, err := verifyFile(c.narPath(key), spec)
		rep.Checked++
		rep.Bytes += n
		if errors.Is(err, cache.ErrVerify) {
			c.log.Warn("stored nar is corrupt", "key", key, "err", err)
			bad = append(bad, key)
		} else if err != nil {
			return rep, fmt.Errorf("verify %s: %w", key, err)
		}
	}
	for _, key := range bad {
		c.mu.Lock()
		if e := c.files[key]; e != nil {
			os.Remove(c.narPath(key))
			c.total -= e.size
			delete(c.files, key)
		}
		c.mu.Unlock()
	}
	if err := c.forgetNarFiles(bad); err != nil {
		return rep, fmt.Errorf("verify: drop bad entries: %w", err)
	}
	rep.Bad = bad
	return rep, nil
}

// verifyFile checks one stored file and returns the bytes read.
func verifyFile(path string, spec *FillSpec) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if spec.FileSize != 0 && uint64(info.Size()) != spec.FileSize {
		return 0, fmt.Errorf("%w: FileSize is %d, file has %d bytes", cache.ErrVerify, spec.FileSize, info.Size())
	}
	if spec.FileHash != nil {
		h, err := newHash(spec.FileHash)
		if err != nil {
			return 0, err
		}
		if _, err := io.Copy(h, f); err != nil {
			return 0, err
		}
		if err := checkDigest("FileHash", spec.FileHash, h.Sum(nil)); err != nil {
			return info.Size(), err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
	}
	if narinfo.CanDecode(spec.Compression) && spec.NarHash != nil {
		if err := verifyNar(spec, f); err != nil {
			return info.Size(), err
		}
	}
	return info.Size(), nil
}

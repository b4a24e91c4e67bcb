package disk

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/internal/narcheck"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// openOffline opens dir for a maintenance command, failing fast with a
// clear message when a server holds it.
func openOffline(dir string, maxSize int64) (*Cache, error) {
	c, err := Open(Options{Dir: dir, MaxSize: maxSize, LockTimeout: 500 * time.Millisecond})
	if errors.Is(err, ErrLocked) {
		return nil, fmt.Errorf("index is locked by a running server (stop it first, or reach it through its admin socket): %w", err)
	}
	return c, err
}

// GCResult says what GC did.
type GCResult struct {
	Removed int   `json:"removed"` // files evicted
	Freed   int64 `json:"freed"`   // bytes evicted
	Size    int64 `json:"size"`    // bytes left
	Files   int   `json:"files"`   // files left
}

// GC evicts least recently used NAR files, with the narinfos that name
// them, from the cache in dir until it holds at most maxSize bytes. It
// fails when a server holds the index (its admin socket does it then).
func GC(dir string, maxSize int64) (GCResult, error) {
	if maxSize < 0 {
		return GCResult{}, fmt.Errorf("gc: negative size %d", maxSize)
	}
	c, err := openOffline(dir, 0)
	if err != nil {
		return GCResult{}, err
	}
	r := c.GCTo(maxSize)
	return r, c.Close()
}

// GCTo evicts least recently used NAR files, with the narinfos that name
// them, until the cache holds at most maxSize bytes; it works on an open
// cache, while it serves.
func (c *Cache) GCTo(maxSize int64) GCResult {
	var r GCResult
	r.Removed, r.Freed = c.evictTo(maxSize)
	r.Size, r.Files = c.Size()
	return r
}

// VerifyReport says what Verify found.
type VerifyReport struct {
	Checked      int      `json:"checked"`      // files checked
	Bytes        int64    `json:"bytes"`        // bytes read
	Bad          []string `json:"bad"`          // keys of files that did not match, now removed with their narinfos
	Unverifiable []string `json:"unverifiable"` // keys with nothing to check them against, kept
}

// Verify re-hashes every stored NAR file against its narinfo (FileHash
// and FileSize when known, and NarHash and NarSize after decompressing
// when the compression can be decoded here) and removes the bad ones, with
// the narinfos that name them. It fails when a server holds the index
// (its admin socket does it then).
func Verify(dir string) (VerifyReport, error) {
	c, err := openOffline(dir, 0)
	if err != nil {
		return VerifyReport{}, err
	}
	defer c.Close()
	return c.VerifyAll()
}

// VerifyAll is Verify on an open cache, while it serves: files evicted
// meanwhile are skipped, and a bad one is removed only if it is still the
// file that was read.
func (c *Cache) VerifyAll() (VerifyReport, error) {
	var rep VerifyReport
	for _, f := range c.fileSnapshot() {
		spec := c.storedSpec(f.key)
		if spec == nil {
			rep.Unverifiable = append(rep.Unverifiable, f.key)
			continue
		}
		n, err := c.checkStored(f.key, spec, nil)
		if errors.Is(err, fs.ErrNotExist) {
			continue // evicted since the snapshot
		}
		rep.Checked++
		rep.Bytes += n
		if errors.Is(err, cache.ErrVerify) {
			rep.Bad = append(rep.Bad, f.key)
		} else if err != nil {
			return rep, fmt.Errorf("verify %s: %w", f.key, err)
		}
	}
	return rep, nil
}

type fileRef struct {
	key  string
	size int64
}

// fileSnapshot lists the committed files.
func (c *Cache) fileSnapshot() []fileRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	files := make([]fileRef, 0, len(c.files))
	for k, e := range c.files {
		files = append(files, fileRef{k, e.size})
	}
	return files
}

// storedSpec is what a stored file is checked against: the narinfo that
// names it (pending or in the index), else the NarHash its name carries;
// nil when nothing can check it. It records no access.
func (c *Cache) storedSpec(key string) *narcheck.Spec {
	hashPart, narHash, comp, ok := narinfo.ParseNarFileKey(key)
	var spec *narcheck.Spec
	if ok {
		spec = &narcheck.Spec{Compression: comp, NarHash: narHash}
		if ni := c.storedNarInfo(hashPart); ni != nil && ni.Key == key {
			n := ni.NarInfo
			spec = &narcheck.Spec{Compression: n.Compression, FileHash: n.FileHash,
				FileSize: n.FileSize, NarHash: n.NarHash, NarSize: n.NarSize}
		}
	}
	if spec == nil || (spec.FileHash == nil && !narinfo.CanDecode(spec.Compression)) {
		return nil
	}
	return spec
}

// storedNarInfo reads a narinfo without touching it; nil when none.
func (c *Cache) storedNarInfo(hashPart string) *cache.NarInfoEntry {
	if m, pending := c.pending.lookupMeta(hashPart); pending && (m.narInfo != nil || m.delNarInfo) {
		return m.narInfo
	}
	e, err := c.readNarInfo(hashPart)
	if err != nil {
		return nil
	}
	return e
}

// checkStored re-hashes the stored file key against spec, reading it
// through wrap when set (the scrub's pacing), and removes it with the
// narinfos that name it when it does not match (cache.ErrVerify), if the
// file in place is still the one read. It returns the bytes read.
func (c *Cache) checkStored(key string, spec *narcheck.Spec, wrap func(io.Reader) io.Reader) (int64, error) {
	f, err := os.Open(c.narPath(key))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var r io.ReadSeeker = f
	if wrap != nil {
		r = &wrappedSeeker{Reader: wrap(f), f: f}
	}
	n, err := narcheck.VerifyFile(f, r, spec)
	if !errors.Is(err, cache.ErrVerify) {
		return n, err
	}
	c.log.Warn("stored nar is corrupt; removed", "key", key, "err", err)
	if info, serr := os.Stat(c.narPath(key)); serr == nil {
		if opened, oerr := f.Stat(); oerr == nil && os.SameFile(info, opened) {
			if derr := c.DeleteFile(key); derr != nil && !errors.Is(derr, fs.ErrNotExist) {
				return n, fmt.Errorf("remove corrupt nar %s: %w", key, derr)
			}
		}
	}
	return n, err
}

// wrappedSeeker reads through a wrapper and seeks the file under it.
type wrappedSeeker struct {
	io.Reader
	f *os.File
}

func (w *wrappedSeeker) Seek(off int64, whence int) (int64, error) { return w.f.Seek(off, whence) }

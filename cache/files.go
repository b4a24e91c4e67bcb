package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ValidKey reports whether key can name a NAR file: 3 to 200 characters of
// [a-z0-9.-], not starting with a dot. Keys are also file names, so this is
// what keeps requests inside the cache folder.
func ValidKey(key string) bool { return validKey(key) }

func validKey(key string) bool {
	if len(key) < 3 || len(key) > 200 || key[0] == '.' {
		return false
	}
	for i := 0; i < len(key); i++ {
		b := key[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '.' || b == '-') {
			return false
		}
	}
	return true
}

// narPath is DIR/nar/<first 2 chars>/<key>.
func (c *Cache) narPath(key string) string {
	return filepath.Join(c.narDir, key[:2], key)
}

// openFile opens a committed NAR file and records the access.
func (c *Cache) openFile(key string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(c.narPath(key))
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	now := time.Now().UnixNano()
	c.mu.Lock()
	if e := c.files[key]; e != nil {
		e.atime = now
		c.touchedNar[key] = now
	}
	c.mu.Unlock()
	return f, info, nil
}

// Writer writes one NAR file into a unique temp file; Commit makes it
// visible atomically, Cancel (safe to defer, also after Commit) drops it.
// The caller is responsible for having verified the content.
type Writer struct {
	c         *Cache
	key       string
	f         *os.File
	tmp       string
	n         int64
	committed bool
	closed    bool
}

// Create starts writing the NAR file key. Errors wrap ErrStorage.
func (c *Cache) Create(key string) (*Writer, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("create %q: invalid key", key)
	}
	f, err := os.CreateTemp(c.tmpDir, key+".*")
	if err != nil {
		c.diskFailed(err)
		return nil, fmt.Errorf("create temp file for %s: %w: %w", key, ErrStorage, err)
	}
	return &Writer{c: c, key: key, f: f, tmp: f.Name()}, nil
}

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil {
		w.c.diskFailed(err)
		return n, fmt.Errorf("write %s: %w: %w", w.tmp, ErrStorage, err)
	}
	return n, nil
}

// Commit syncs the temp file, renames it into place, syncs the folder and
// records it in the index, then evicts down to MaxSize.
func (w *Writer) Commit() error {
	if w.closed {
		return errors.New("commit: writer already closed")
	}
	w.closed = true
	c := w.c
	fail := func(step string, err error) error {
		w.f.Close()
		os.Remove(w.tmp)
		c.diskFailed(err)
		return fmt.Errorf("commit %s: %s: %w: %w", w.key, step, ErrStorage, err)
	}
	if err := w.f.Sync(); err != nil {
		return fail("sync", err)
	}
	if err := w.f.Close(); err != nil {
		return fail("close", err)
	}
	final := c.narPath(w.key)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail("mkdir", err)
	}
	if err := os.Rename(w.tmp, final); err != nil {
		return fail("rename", err)
	}
	if err := syncDir(dir); err != nil {
		return fail("sync folder", err)
	}
	w.committed = true
	now := time.Now().UnixNano()
	c.mu.Lock()
	if old := c.files[w.key]; old != nil {
		c.total -= old.size
	}
	c.files[w.key] = &fileEntry{size: w.n, atime: now}
	c.total += w.n
	c.mu.Unlock()
	c.diskRecovered()
	if err := c.putNarFile(w.key, fileEntry{size: w.n, atime: now}); err != nil {
		// The file is in place; reconcile at the next open removes it.
		return fmt.Errorf("commit %s: index: %w: %w", w.key, ErrStorage, err)
	}
	c.evict()
	c.updateGauges()
	return nil
}

// Cancel drops the temp file unless committed. It may be called many times.
func (w *Writer) Cancel() {
	if w.closed {
		return
	}
	w.closed = true
	w.f.Close()
	if err := os.Remove(w.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.c.log.Warn("remove temp file", "path", w.tmp, "err", err)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// validKey reports whether key can name a NAR file (narinfo.ValidFileName).
func validKey(key string) bool { return narinfo.ValidFileName(key) }

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
		c.touchedNar.add(key, now)
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

	pathMu sync.Mutex // held while the file is opened or moved
	path   string     // tmp, then the committed file once moved
}

// Create starts writing the NAR file key. Errors wrap cache.ErrStorage.
func (c *Cache) Create(key string) (*Writer, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("create %q: invalid key", key)
	}
	f, err := os.CreateTemp(c.tmpDir, key+".*")
	if err != nil {
		c.diskFailed(err)
		return nil, fmt.Errorf("create temp file for %s: %w: %w", key, cache.ErrStorage, err)
	}
	return &Writer{c: c, key: key, f: f, tmp: f.Name(), path: f.Name()}, nil
}

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil {
		w.c.diskFailed(err)
		return n, fmt.Errorf("write %s: %w: %w", w.tmp, cache.ErrStorage, err)
	}
	return n, nil
}

// Commit syncs the temp file, renames it into place, syncs the folder and
// records it in the index, then evicts down to MaxSize. Commits run one
// batch at a time in the cache's disk goroutine (see commit.go); this one
// does not wait for more to gather.
func (w *Writer) Commit() error { return w.commit(true, nil) }

// CommitBatched is Commit waiting for the next batch (Options.CommitDelay),
// or until ctx ends.
func (w *Writer) CommitBatched(ctx context.Context) error { return w.commit(false, ctx.Done()) }

// Follow opens the file being written, under its name of the moment (the
// temp file, or the committed file once moved): its own descriptor, which
// keeps reading the file whatever happens to it after.
func (w *Writer) Follow() (cache.FileFollower, error) {
	w.pathMu.Lock()
	defer w.pathMu.Unlock()
	f, err := os.Open(w.path)
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w: %w", w.key, cache.ErrStorage, err)
	}
	return f, nil
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

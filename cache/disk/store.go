package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

var _ cache.Store = (*Cache)(nil)

// storedFile is a committed NAR file being read.
type storedFile struct {
	f    *os.File
	info os.FileInfo
}

func (f *storedFile) Read(p []byte) (int, error) { return f.f.Read(p) }
func (f *storedFile) Close() error               { return f.f.Close() }

func (f *storedFile) Size() int64        { return f.info.Size() }
func (f *storedFile) ModTime() time.Time { return f.info.ModTime() }

// File returns the open file, for sendfile and Range requests.
func (f *storedFile) File() *os.File { return f.f }

// OpenFile opens a committed NAR file and records the access.
func (c *Cache) OpenFile(key string) (cache.NARReader, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("nar %q: %w", key, fs.ErrNotExist)
	}
	f, info, err := c.openFile(key)
	if err != nil {
		return nil, err
	}
	return &storedFile{f: f, info: info}, nil
}

// StatFile returns the size and modification time of a committed file.
func (c *Cache) StatFile(key string) (int64, time.Time, error) {
	if !validKey(key) {
		return 0, time.Time{}, fmt.Errorf("nar %q: %w", key, fs.ErrNotExist)
	}
	info, err := os.Stat(c.narPath(key))
	if err != nil {
		return 0, time.Time{}, err
	}
	return info.Size(), info.ModTime(), nil
}

// CreateFile is Create as a cache.FileWriter.
func (c *Cache) CreateFile(key string) (cache.FileWriter, error) {
	w, err := c.Create(key)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// DeleteFile removes a committed NAR file and the narinfos that name it,
// as eviction does: under c.mu, so that no commit of the key slips in.
func (c *Cache) DeleteFile(key string) error {
	if !validKey(key) {
		return fmt.Errorf("delete nar %q: %w", key, fs.ErrNotExist)
	}
	c.mu.Lock()
	e := c.files[key]
	if e == nil {
		c.mu.Unlock()
		return fmt.Errorf("delete nar %s: %w", key, fs.ErrNotExist)
	}
	if err := os.Remove(c.narPath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.mu.Unlock()
		c.diskFailed(err)
		return fmt.Errorf("delete nar %s: %w: %w", key, cache.ErrStorage, err)
	}
	delete(c.files, key)
	c.touchedNar.forget(key)
	c.total -= e.size
	c.mu.Unlock()
	c.updateGauges()
	return c.forgetNarFiles([]string{key})
}

// WalkFiles calls fn for each committed file, from a snapshot taken first.
func (c *Cache) WalkFiles(fn func(key string, size int64) error) error {
	type file struct {
		key  string
		size int64
	}
	c.mu.Lock()
	files := make([]file, 0, len(c.files))
	for k, e := range c.files {
		files = append(files, file{k, e.size})
	}
	c.mu.Unlock()
	for _, f := range files {
		if err := fn(f.key, f.size); err != nil {
			return err
		}
	}
	return nil
}

package mirror

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// extraStore keeps the listings and build logs of mirrored paths as files
// under one folder, apart from the NAR cache and its index: dir/ls/<hash>.ls
// and dir/log/<drv>. Past maxBytes in all, the least recently used go
// first. Use is tracked in memory; after a restart the modification times
// stand for it. Files are written whole and renamed into place, so a
// reader never sees half of one.
type extraStore struct {
	dir      string
	maxBytes int64
	log      *slog.Logger

	mu      sync.Mutex
	loaded  bool
	loadErr error
	files   map[string]*extraEntry // by path relative to dir
	total   int64
}

type extraEntry struct {
	size int64
	used time.Time
}

// extraSubdirs are the folders of dir; every stored name is in one.
var extraSubdirs = []string{"ls", "log"}

// extraTempPrefix starts the names of files still being written.
const extraTempPrefix = ".tmp-"

func newExtraStore(dir string, maxBytes int64, log *slog.Logger) *extraStore {
	return &extraStore{dir: dir, maxBytes: maxBytes, log: log, files: make(map[string]*extraEntry)}
}

// loadLocked reads what is stored, once, creating the folders and removing
// temp files a crash left.
func (s *extraStore) loadLocked() error {
	if s.loaded {
		return s.loadErr
	}
	s.loaded = true
	for _, sub := range extraSubdirs {
		d := filepath.Join(s.dir, sub)
		if err := os.MkdirAll(d, 0o755); err != nil {
			s.loadErr = fmt.Errorf("extras folder: %w", err)
			return s.loadErr
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			s.loadErr = fmt.Errorf("extras folder: %w", err)
			return s.loadErr
		}
		for _, de := range entries {
			s.loadEntry(sub, d, de)
		}
	}
	s.evictLocked()
	return nil
}

func (s *extraStore) loadEntry(sub, d string, de fs.DirEntry) {
	if strings.HasPrefix(de.Name(), extraTempPrefix) {
		if err := os.Remove(filepath.Join(d, de.Name())); err != nil {
			s.log.Warn("remove leftover temp file", "path", filepath.Join(d, de.Name()), "err", err)
		}
		return
	}
	fi, err := de.Info()
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	s.files[sub+"/"+de.Name()] = &extraEntry{size: fi.Size(), used: fi.ModTime()}
	s.total += fi.Size()
}

// open returns the stored file rel ("ls/<hash>.ls", "log/<drv>"); the
// error wraps fs.ErrNotExist when there is none.
func (s *extraStore) open(rel string) (*os.File, error) {
	s.mu.Lock()
	if err := s.loadLocked(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	e := s.files[rel]
	if e != nil {
		e.used = time.Now()
	}
	s.mu.Unlock()
	if e == nil {
		return nil, fmt.Errorf("%s: %w", rel, fs.ErrNotExist)
	}
	f, err := os.Open(filepath.Join(s.dir, rel))
	if errors.Is(err, fs.ErrNotExist) {
		s.forget(rel) // removed behind our back
	}
	return f, err
}

func (s *extraStore) forget(rel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.files[rel]; e != nil {
		s.total -= e.size
		delete(s.files, rel)
	}
}

// put stores body as rel, durably (temp file in the same folder, fsync,
// rename, fsync of the folder), then evicts past maxBytes.
func (s *extraStore) put(rel string, body []byte) error {
	s.mu.Lock()
	err := s.loadLocked()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	final := filepath.Join(s.dir, rel)
	if err := writeFileAtomic(final, body); err != nil {
		return fmt.Errorf("store %s: %w", rel, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.files[rel]; old != nil {
		s.total -= old.size
	}
	s.files[rel] = &extraEntry{size: int64(len(body)), used: time.Now()}
	s.total += int64(len(body))
	s.evictLocked()
	return nil
}

func writeFileAtomic(final string, body []byte) error {
	dir := filepath.Dir(final)
	f, err := os.CreateTemp(dir, extraTempPrefix+"*")
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(body); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return err
	}
	committed = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// evictLocked removes the least recently used files while the total is
// over maxBytes, down to nine tenths of it, so that a full store does not
// sort its entries on every put.
func (s *extraStore) evictLocked() {
	if s.maxBytes <= 0 || s.total <= s.maxBytes {
		return
	}
	names := make([]string, 0, len(s.files))
	for rel := range s.files {
		names = append(names, rel)
	}
	sort.Slice(names, func(i, j int) bool { return s.files[names[i]].used.Before(s.files[names[j]].used) })
	target := s.maxBytes - s.maxBytes/10
	for _, rel := range names {
		if s.total <= target {
			break
		}
		if err := os.Remove(filepath.Join(s.dir, rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("evict extra file", "path", rel, "err", err)
			continue
		}
		s.total -= s.files[rel].size
		delete(s.files, rel)
	}
}

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/push"
)

// This file alone knows how pushed paths sit in a cache directory of
// their own (<cache-dir>/pushed, without a size limit, so that nothing is
// ever evicted): rewrite it when the storage changes.

// pushedDir is where pushed paths are kept, apart from the mirror.
func pushedDir(cacheDir string) string { return filepath.Join(cacheDir, "pushed") }

// pushStore is a push.Store over a cache.Cache, with the ages of its
// narinfos beside it (pushAges) so that paths can expire.
type pushStore struct {
	c    *disk.Cache
	ages *pushAges

	// mu orders storing a narinfo (its NAR file must be there) against
	// removing a NAR file no narinfo names.
	mu sync.Mutex
}

var _ push.Store = (*pushStore)(nil)

func newPushStore(c *disk.Cache, ages *pushAges) *pushStore {
	return &pushStore{c: c, ages: ages}
}

// pushUpstream is the Upstream field of a pushed narinfo in the index.
const pushUpstream = "push"

func (s *pushStore) CreateNAR(name string) (push.Writer, error) {
	return s.c.Create(name)
}

func (s *pushStore) OpenNAR(name string) (push.NARFile, error) {
	n, err := s.c.OpenFile(name)
	if err != nil {
		return nil, err
	}
	return pushNARFile{File: n.(interface{ File() *os.File }).File(), nar: n}, nil
}

func (s *pushStore) HasNAR(name string) bool {
	n, err := s.c.OpenFile(name)
	if err != nil {
		return false
	}
	n.Close()
	return true
}

// PutNarInfo stores ni once its NAR file is there (it may have expired
// since it was measured), recording when.
func (s *pushStore) PutNarInfo(ni *narinfo.NarInfo, narName string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.HasNAR(narName) {
		return fmt.Errorf("NAR %s: %w", narName, fs.ErrNotExist)
	}
	// The age first: one without its narinfo only expires nothing.
	if err := s.ages.put(ni.HashPart(), narName, time.Now()); err != nil {
		return err
	}
	return s.c.PutNarInfo(cache.NarInfoEntry{NarInfo: ni, Key: narName, Upstream: pushUpstream})
}

func (s *pushStore) NarInfo(hashPart string) (*push.Stored, error) {
	e, err := s.c.NarInfo(hashPart)
	if err != nil {
		return nil, err
	}
	return &push.Stored{NarInfo: e.NarInfo, Raw: e.Raw, NARName: e.Key}, nil
}

func (s *pushStore) Size() int64 {
	n, _ := s.c.Size()
	return n
}

// forgetAges drops the ages of deleted paths, so that they never expire.
func forgetAges(dir string, hashParts []string) error {
	ages, err := openPushAges(dir, 500*time.Millisecond)
	if err != nil {
		return err
	}
	paths := make([]agedPath, len(hashParts))
	for i, hp := range hashParts {
		paths[i] = agedPath{hashPart: hp, at: anyAge}
	}
	_, err = ages.remove(paths)
	if cerr := ages.Close(); err == nil {
		err = cerr
	}
	return err
}

type pushNARFile struct {
	*os.File
	nar cache.NARReader
}

func (f pushNARFile) Size() int64        { return f.nar.Size() }
func (f pushNARFile) ModTime() time.Time { return f.nar.ModTime() }
func (f pushNARFile) Close() error       { return f.nar.Close() }

// deletePushed removes pushed paths by hash part from the store in dir,
// which no server may hold: each narinfo first, so that no client is sent
// to a missing NAR, then the NAR files. It returns the NAR names removed;
// a hash part not pushed is an error naming it.
func deletePushed(dir string, hashParts []string) ([]string, error) {
	c, err := disk.Open(disk.Options{Dir: dir, LockTimeout: 500 * time.Millisecond})
	if errors.Is(err, disk.ErrLocked) {
		return nil, fmt.Errorf("the pushed store is held by a running server (stop it first): %w", err)
	} else if err != nil {
		return nil, err
	}
	var names []string
	for _, hp := range hashParts {
		e, err := c.NarInfo(hp)
		if err != nil {
			c.Close()
			return names, fmt.Errorf("%s: not a pushed path: %w", hp, err)
		}
		if err := c.DeleteNarInfo(hp); err != nil {
			c.Close()
			return names, err
		}
		names = append(names, e.Key)
	}
	for _, name := range names {
		if err := c.DeleteFile(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.Close()
			return names, err
		}
	}
	if err := c.Close(); err != nil {
		return names, err
	}
	if err := forgetAges(dir, hashParts); err != nil {
		return names, err
	}
	return names, nil
}

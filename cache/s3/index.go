package s3

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
func isStorage(err error) bool  { return errors.Is(err, cache.ErrStorage) }

// buildIndex lists the narinfos at the bucket's root and reads each (a GET
// costs what a HEAD does, and also gives the key of narinfos without
// metadata), indexConcurrency at a time. Unreadable narinfos are logged
// and left out; a storage failure fails the open.
func (s *Store) buildIndex() error {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	hashParts := make(chan string)
	errs := make(chan error, indexConcurrency)
	var wg sync.WaitGroup
	for range indexConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for hp := range hashParts {
				if err := s.indexNarInfo(hp); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
	listErr := s.listNarInfos(ctx, hashParts)
	close(hashParts)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if listErr != nil && ctx.Err() == nil {
		return storageErr("list narinfos", listErr)
	}
	return nil
}

// listNarInfos sends the hash part of every <hashPart>.narinfo object.
func (s *Store) listNarInfos(ctx context.Context, out chan<- string) error {
	for obj := range s.client.ListObjectsIter(ctx, s.opts.Bucket, minio.ListObjectsOptions{}) {
		if obj.Err != nil {
			return obj.Err
		}
		hp, ok := strings.CutSuffix(obj.Key, narInfoSuffix)
		if !ok || !narinfo.ValidHashPart(hp) {
			continue
		}
		select {
		case out <- hp:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (s *Store) indexNarInfo(hashPart string) error {
	e, err := s.NarInfo(hashPart)
	switch {
	case isNotExist(err): // deleted meanwhile
		return nil
	case err != nil && isStorage(err):
		return err
	case err != nil:
		s.opts.Logger.Warn("unreadable narinfo in bucket", "hash", hashPart, "err", err)
		return nil
	}
	s.mu.Lock()
	s.indexLocked(hashPart, e.Key)
	s.mu.Unlock()
	return nil
}

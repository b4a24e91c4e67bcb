package s3

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// validKey reports whether key can name a NAR file (narinfo.ValidFileName).
func validKey(key string) bool { return narinfo.ValidFileName(key) }

func objectOfKey(key string) string { return narPrefix + key }

func notExist(what, key string) error {
	return fmt.Errorf("%s %q: %w", what, key, fs.ErrNotExist)
}

// OpenFile opens a committed NAR file: one GET, read as it streams. The
// server keeps serving the object it started with when it is deleted or
// replaced meanwhile.
func (s *Store) OpenFile(key string) (cache.NARReader, error) {
	if !validKey(key) {
		return nil, notExist("open nar", key)
	}
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	// The body may be read for long: requestTimeout bounds only the wait
	// for the response's headers; then the reader's Close ends the request.
	ctx, cancel := context.WithCancel(s.ctx)
	headerTimer := time.AfterFunc(requestTimeout, cancel)
	body, info, _, err := s.core.GetObject(ctx, s.opts.Bucket, objectOfKey(key), minio.GetObjectOptions{})
	if !headerTimer.Stop() && err == nil {
		body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		cancel()
		return nil, storageErr("open nar "+key, err)
	}
	return &reader{body: body, cancel: cancel, size: info.Size, modTime: info.LastModified, key: key}, nil
}

// reader is a NAR file streaming from the bucket. A read error wraps
// cache.ErrStorage; a body shorter than the object's size is an error.
type reader struct {
	body    io.ReadCloser
	cancel  context.CancelFunc
	size    int64
	read    int64
	modTime time.Time
	key     string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	r.read += int64(n)
	switch {
	case err == io.EOF && r.read != r.size:
		err = fmt.Errorf("read nar %s: %w: got %d bytes of %d", r.key, cache.ErrStorage, r.read, r.size)
	case err != nil && err != io.EOF:
		err = fmt.Errorf("read nar %s: %w: %w", r.key, cache.ErrStorage, err)
	}
	return n, err
}

func (r *reader) Close() error {
	err := r.body.Close()
	r.cancel()
	return err
}

func (r *reader) Size() int64        { return r.size }
func (r *reader) ModTime() time.Time { return r.modTime }

// StatFile returns the size and modification time of a committed file.
func (s *Store) StatFile(key string) (int64, time.Time, error) {
	if !validKey(key) {
		return 0, time.Time{}, notExist("stat nar", key)
	}
	ctx, cancel, err := s.requestContext()
	if err != nil {
		return 0, time.Time{}, err
	}
	defer cancel()
	info, err := s.client.StatObject(ctx, s.opts.Bucket, objectOfKey(key), minio.StatObjectOptions{})
	if err != nil {
		return 0, time.Time{}, storageErr("stat nar "+key, err)
	}
	return info.Size, info.LastModified, nil
}

// DeleteFile removes the narinfos naming a file, then the file, so that no
// narinfo is ever left pointing at a missing file. Readers that have the
// file open keep reading it (the server streams what it opened).
func (s *Store) DeleteFile(key string) error {
	if _, _, err := s.StatFile(key); err != nil {
		return err
	}
	for _, hashPart := range s.narInfosNaming(key) {
		if err := s.deleteNarInfoOf(hashPart, key); err != nil {
			return fmt.Errorf("delete nar %s: %w", key, err)
		}
	}
	ctx, cancel, err := s.requestContext()
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.client.RemoveObject(ctx, s.opts.Bucket, objectOfKey(key), minio.RemoveObjectOptions{}); err != nil {
		return storageErr("delete nar "+key, err)
	}
	return nil
}

// narInfosNaming returns the hash parts whose narinfos may name key: those
// of the index, and the hash part a NarFileKey name begins with (whose
// narinfo another server may have put).
func (s *Store) narInfosNaming(key string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hashParts []string
	for hp := range s.namedBy[key] {
		hashParts = append(hashParts, hp)
	}
	if hp, _, _, ok := narinfo.ParseNarFileKey(key); ok {
		if _, indexed := s.namedBy[key][hp]; !indexed {
			hashParts = append(hashParts, hp)
		}
	}
	return hashParts
}

// WalkFiles lists the objects under nar/, one LIST per 1000 files.
func (s *Store) WalkFiles(fn func(key string, size int64) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	objects := s.client.ListObjectsIter(ctx, s.opts.Bucket, minio.ListObjectsOptions{Prefix: narPrefix, Recursive: true})
	for obj := range objects {
		if obj.Err != nil {
			return storageErr("list nar files", obj.Err)
		}
		key := strings.TrimPrefix(obj.Key, narPrefix)
		if !validKey(key) {
			continue // not a NAR file of this store
		}
		if err := fn(key, obj.Size); err != nil {
			return err
		}
	}
	return nil
}

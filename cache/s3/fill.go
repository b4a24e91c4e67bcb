package s3

import (
	"context"
	"errors"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// StoredSize returns the size of a committed file (a HEAD of its object).
func (s *Store) StoredSize(key string) (int64, bool) {
	size, _, err := s.StatFile(key)
	return size, err == nil
}

// CannotStore never objects: the bucket has no size limit the store knows
// of, and failures show when a file is written.
func (s *Store) CannotStore(size uint64) string { return "" }

// Incoming is not needed: nothing here depends on files on their way.
func (s *Store) Incoming(key string, remaining func() int64) (done func()) { return func() {} }

// Supersede is ignored: a superseded file stays in the bucket until it is
// deleted, as every file does.
func (s *Store) Supersede(key string) {}

// CommitBatched is Commit: uploads are not batched.
func (w *writer) CommitBatched(context.Context) error { return w.Commit() }

// Follow is not supported: the bytes written go up in parts, and the
// object exists only once committed. The fill streams without storing
// such a file, or keeps it in memory when small.
func (w *writer) Follow() (cache.FileFollower, error) {
	return nil, errors.ErrUnsupported
}

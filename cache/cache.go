// Package cache is the store of NARs and narinfos, as the mirror sees it:
// the interfaces a storage backend implements (NAR files by key, written
// through a FileWriter that commits atomically, narinfo records and
// negative entries), the errors that say whom to blame, and what a stored
// narinfo holds. It knows no backend: cache/disk is one, on a local
// folder with a bbolt index, cache/s3 another over a bucket;
// cache/cachetest is the suite every backend passes. The fill (package
// fill) downloads NARs into a Store through these interfaces alone. It
// may not import a backend, the fill, the mirror or the server.
package cache

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// ErrStorage marks failures of the local storage (disk full, read-only,
// closed cache): the upstream is not to blame for them.
var ErrStorage = errors.New("cache storage failure")

// ErrVerify marks downloaded content that does not match its narinfo.
var ErrVerify = errors.New("content does not match narinfo")

// NarInfoEntry is a stored narinfo with what is needed to fetch its NAR again.
type NarInfoEntry struct {
	// NarInfo is the narinfo as served (URL pointing at Key). It is shared
	// between callers: do not modify it, Clone it.
	NarInfo *narinfo.NarInfo
	// Raw is NarInfo.Bytes(), the exact bytes served. Shared: do not modify.
	Raw []byte
	// Key is the NAR file key (narinfo.NarFileKey's, for mirrored NARs).
	Key string
	// Upstream is the name of the upstream the narinfo came from.
	Upstream string
	// UpstreamURL is the NAR URL at that upstream.
	UpstreamURL string
	// UpstreamKey is the key of the upstream's file (the one at
	// UpstreamURL) when Key names a re-encoded copy of it, which narinfos
	// handed out before still name; "" when Key is the upstream's file.
	UpstreamKey string
}

// Store holds verified NAR files by key, and narinfos and negative
// entries by hash part. Missing things are fs.ErrNotExist; failures of
// the storage itself wrap ErrStorage. It is safe for concurrent use.
type Store interface {
	Files
	NarInfos
	// Close makes everything committed durable and releases the store.
	// Readers handed out stay readable.
	Close() error
}

// Files are the NAR files of a Store. What a Store holds has been
// verified by whoever committed it: a Store checks no content.
type Files interface {
	// OpenFile opens a committed NAR file. Its reader also has
	// File() *os.File when the backend keeps it in a local file.
	OpenFile(key string) (NARReader, error)
	// StatFile returns the size and modification time of a committed file.
	StatFile(key string) (size int64, modTime time.Time, err error)
	// CreateFile starts writing a NAR file, visible only once committed.
	CreateFile(key string) (FileWriter, error)
	// DeleteFile removes a committed file and the narinfos that name it.
	// Readers that have it open keep reading the whole of it.
	DeleteFile(key string) error
	// WalkFiles calls fn for each committed file, in no particular order,
	// until fn returns an error, which it returns.
	WalkFiles(fn func(key string, size int64) error) error
	// StoredSize returns the size of a committed file, as the store
	// records it, and whether there is one.
	StoredSize(key string) (size int64, ok bool)
	// CannotStore says why a new file of size bytes (0: unknown) would not
	// be stored now, or "": the store refused writes lately, the file is
	// over its size limit, or there is no room for it besides what the
	// incoming files still expect (Incoming).
	CannotStore(size uint64) (why string)
	// Incoming tells the store that a file of key is on its way (a
	// download, whether or not it has a FileWriter yet), until done is
	// called: the store keeps the narinfos naming key and a superseded
	// file of key, and counts remaining() bytes as taken when it judges
	// room. A store without such concerns ignores it.
	Incoming(key string, remaining func() int64) (done func())
	// Supersede says a committed file was replaced by a copy in another
	// compression that new narinfos name: the store may remove it once
	// nobody read it for a while (cache/disk: Options.SupersededGrace). A
	// store may ignore it (cache/s3 does: the file stays until deleted).
	Supersede(key string)
}

// FileWriter writes one NAR file. Commit makes it visible whole and
// durable, at once, under its key (replacing a file of that key); Cancel
// drops it, and may be called after Commit, or many times.
type FileWriter interface {
	io.Writer
	Commit() error
	// CommitBatched is Commit that may wait a moment to share the
	// store's durability work with other commits (cache/disk:
	// Options.CommitDelay), for a file nobody waits for; once ctx ends it
	// commits without waiting any longer (a closing fill). A store that
	// does not batch commits at once.
	CommitBatched(ctx context.Context) error
	Cancel()
	// Follow opens a reader of the file being written, for the readers
	// that follow a download: ReadAt sees the bytes written so far, and
	// keeps reading them after Commit, Cancel or a later removal of the
	// file. It may be called from another goroutine than the writer's. A
	// store that cannot (cache/s3: the bytes are in upload parts) returns
	// errors.ErrUnsupported; the fill then streams without storing.
	Follow() (FileFollower, error)
}

// FileFollower reads a file being written (FileWriter.Follow). ReadAt
// past the bytes written so far returns fewer bytes, or io.EOF.
type FileFollower interface {
	io.ReaderAt
	io.Closer
}

// NarInfos are the narinfo records and negative entries of a Store.
type NarInfos interface {
	// NarInfo returns the stored narinfo of a hash part.
	NarInfo(hashPart string) (*NarInfoEntry, error)
	// PutNarInfo stores a narinfo, replacing any other of its hash part,
	// and clears its negative entry. e.NarInfo must not be modified after.
	PutNarInfo(e NarInfoEntry) error
	// DeleteNarInfo forgets the narinfo of a hash part (not its NAR file).
	DeleteNarInfo(hashPart string) error
	// Negative reports whether a live negative entry exists.
	Negative(hashPart string) bool
	// PutNegative records that no upstream has a hash part, for a while.
	PutNegative(hashPart string) error
}

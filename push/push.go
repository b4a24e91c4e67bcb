// Package push takes uploads in the protocol `nix copy --to http://…`
// speaks: NAR files first, hashed and decompressed while they arrive, then
// the narinfo that names one, accepted only when it matches what was
// received, its references are known and it is signed by a trusted key.
// The narinfo is the commit point; nothing is served before it.
//
// The package knows neither HTTP nor the storage behind Store.
package push

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// URLPrefix starts the URL of every stored narinfo:
// nar/pushed/<hash part>/<NAR name>, so that a NAR file is only served
// through a narinfo that was accepted for it.
const URLPrefix = "nar/pushed/"

// Writer writes one NAR file; Commit makes it visible, Cancel (safe to
// defer, also after Commit) drops it.
type Writer interface {
	io.Writer
	Commit() error
	Cancel()
}

// NARFile is a committed NAR file, open for reading.
type NARFile interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

// Stored is a narinfo as the store keeps it.
type Stored struct {
	// NarInfo is shared: do not modify it.
	NarInfo *narinfo.NarInfo
	// Raw is the exact text served.
	Raw []byte
	// NARName names the NAR file (the name it was uploaded under).
	NARName string
}

// Store is where uploads go. Missing things are fs.ErrNotExist.
type Store interface {
	// CreateNAR starts writing the NAR file name.
	CreateNAR(name string) (Writer, error)
	// OpenNAR opens the committed NAR file name.
	OpenNAR(name string) (NARFile, error)
	// HasNAR reports whether the NAR file name is committed.
	HasNAR(name string) bool
	// PutNarInfo stores ni, whose NAR file is narName, under its hash part.
	PutNarInfo(ni *narinfo.NarInfo, narName string) error
	// NarInfo returns the stored narinfo of a hash part.
	NarInfo(hashPart string) (*Stored, error)
	// Size is the bytes of committed NAR files.
	Size() int64
}

// Options configure Uploads. Only Store is required.
type Options struct {
	Store Store
	// Known reports whether a path the server serves from elsewhere (the
	// local store, the mirror) exists, for references; nil counts only
	// pushed paths.
	Known func(ctx context.Context, hashPart string) bool
	// Trusted are the keys an uploaded narinfo must carry a signature by,
	// unless its Uploader may have the server sign it; empty accepts only
	// uploads of such uploaders.
	Trusted []signature.PublicKey
	// SignKeys sign every accepted narinfo; empty adds no signature.
	// Trusted and SignKeys may not both be empty (New refuses): nothing
	// could be accepted.
	SignKeys []signature.SecretKey
	// MaxUploadSize bounds one NAR, compressed as uploaded and
	// decompressed alike. Zero means 32 GiB.
	MaxUploadSize int64
	// MaxStoreSize bounds the bytes of all pushed NAR files; an upload
	// that would pass it is refused. Zero means no limit.
	MaxStoreSize int64
	// PendingTTL is how long a received NAR waits for its narinfo in
	// memory; later, its file is hashed again. Zero means 1 hour.
	PendingTTL time.Duration
	// MaxPending bounds the NARs waiting for their narinfo. Zero means 65536.
	MaxPending int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Uploader is who sends an upload, as the caller authenticated them.
type Uploader struct {
	// Name names the uploader in logs; "" names none.
	Name string
	// MaySign lets the server sign a narinfo that carries no signature by
	// a key of Options.Trusted (with SignKeys); false asks for one.
	MaySign bool
}

// Uploads takes NARs and narinfos. It is safe for concurrent use.
type Uploads struct {
	opts    Options
	log     *slog.Logger
	pending *pendingNARs
}

// New checks opts and returns Uploads.
func New(opts Options) (*Uploads, error) {
	if opts.Store == nil {
		return nil, errorf(KindConfig, "push: no store")
	}
	if len(opts.Trusted) == 0 && len(opts.SignKeys) == 0 {
		return nil, errorf(KindConfig, "push: needs a signing key or a trusted public key")
	}
	if opts.MaxUploadSize <= 0 {
		opts.MaxUploadSize = 32 << 30
	}
	if opts.PendingTTL <= 0 {
		opts.PendingTTL = time.Hour
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 65536
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Uploads{opts: opts, log: opts.Logger, pending: newPendingNARs(opts.PendingTTL, opts.MaxPending)}, nil
}

// HasNAR reports whether a NAR was received under name, so that Nix
// skips sending it again (HEAD before PUT). It asks the store, not what
// was measured: a file removed since (an expired path) must come again.
func (u *Uploads) HasNAR(name string) bool {
	return ValidNARName(name) && u.opts.Store.HasNAR(name)
}

// NarInfo returns the stored narinfo of a pushed path.
func (u *Uploads) NarInfo(hashPart string) (*Stored, error) {
	return u.opts.Store.NarInfo(hashPart)
}

// OpenNAR opens the NAR file of a pushed path, when name is the one its
// narinfo names: a file no accepted narinfo names was never verified.
func (u *Uploads) OpenNAR(hashPart, name string) (NARFile, error) {
	st, err := u.opts.Store.NarInfo(hashPart)
	if err != nil {
		return nil, err
	}
	if st.NARName != name {
		return nil, fs.ErrNotExist
	}
	return u.opts.Store.OpenNAR(name)
}

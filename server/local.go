package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/localstore"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// maxLocalEntries bounds the memory of signed narinfos (about 1 KiB each).
const maxLocalEntries = 1 << 16

// recheckAfter is how long a remembered path is trusted to still exist. A
// check is a syscall, a tenth of the cost of a narinfo hit; a path the
// garbage collector removed is announced for at most this long (its NAR
// then answers 404, which clients take as "not here").
const recheckAfter = time.Second

// missTTL is how long "not in the local store" is remembered. With the
// mirror on, most narinfo requests are for paths the bastion never built:
// this spares each of them a database query, and delays the announcement of
// a path that was just built by at most this long.
const missTTL = time.Second

// localEntry is a signed narinfo of the local store, remembered so that a
// repeat costs neither a database query nor a signature.
type localEntry struct {
	storePath string
	narHash   string // nixbase32, as it appears in our NAR URLs
	narSize   uint64
	body      []byte
	checked   atomic.Int64 // unix nanoseconds of the last existence check
}

// localNarInfos builds and remembers the narinfos of the local store.
type localNarInfos struct {
	store LocalStore
	keys  []signature.SecretKey
	log   *slog.Logger
	zstd  bool // announce and serve NARs compressed on the fly

	encoders encoderPool

	mu      sync.RWMutex
	entries map[string]*localEntry
	misses  map[string]int64 // hash part → unix nanoseconds until which it is a miss
}

func newLocalNarInfos(store LocalStore, keys []signature.SecretKey, compression string, log *slog.Logger) *localNarInfos {
	return &localNarInfos{
		store: store, keys: keys, log: log, zstd: compression == CompressionZstd,
		entries: make(map[string]*localEntry), misses: make(map[string]int64),
	}
}

// get returns the entry of hashPart, or fs.ErrNotExist. A remembered entry
// is checked against the file system, so a path deleted by the garbage
// collector is not announced any more.
func (l *localNarInfos) get(ctx context.Context, hashPart string) (*localEntry, error) {
	now := time.Now().UnixNano()
	l.mu.RLock()
	e := l.entries[hashPart]
	missUntil := l.misses[hashPart]
	l.mu.RUnlock()
	if now < missUntil {
		return nil, fs.ErrNotExist
	}
	if e != nil {
		if now-e.checked.Load() < int64(recheckAfter) {
			return e, nil
		}
		if l.store.Exists(e.storePath) {
			e.checked.Store(now)
			return e, nil
		}
		l.forget(hashPart)
	}
	pi, err := l.store.PathInfo(ctx, hashPart)
	if errors.Is(err, localstore.ErrMalformed) {
		// A 500 would make Nix stop asking this cache for anything: the
		// path is "not here", and the database is worth a look.
		l.log.Warn("local path not served", "hash", hashPart, "err", err)
		err = fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		l.rememberMiss(hashPart, now+int64(missTTL))
	}
	if err != nil {
		return nil, err
	}
	ni := &narinfo.NarInfo{
		StorePath:   pi.Path,
		Compression: CompressionNone,
		NarHash:     pi.NarHash,
		NarSize:     pi.NarSize,
		References:  pi.References,
		Deriver:     pi.Deriver,
		Sigs:        append([]string(nil), pi.Sigs...),
		CA:          pi.CA,
	}
	if err := ni.CheckCA(); err != nil {
		l.log.Warn("local path not served", "hash", hashPart, "err", err)
		return nil, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	narHash := nix32(pi.NarHash)
	ni.URL = "nar/" + hashPart + "-" + narHash + ".nar"
	if l.zstd {
		// No FileHash or FileSize: compressed on the fly, the file has
		// no fixed hash, and Nix takes both as optional.
		ni.Compression, ni.URL = CompressionZstd, ni.URL+".zst"
	}
	if err := ni.Sign(l.keys...); err != nil {
		return nil, fmt.Errorf("sign %s: %w", pi.Path, err)
	}
	e = &localEntry{storePath: pi.Path, narHash: narHash, narSize: pi.NarSize, body: ni.Bytes()}
	e.checked.Store(time.Now().UnixNano())
	l.remember(hashPart, e)
	return e, nil
}

func (l *localNarInfos) remember(hashPart string, e *localEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) >= maxLocalEntries {
		// Dropping an arbitrary half is cheap and keeps memory bounded;
		// the next request for a dropped path simply asks the database.
		n := 0
		for k := range l.entries {
			delete(l.entries, k)
			if n++; n >= maxLocalEntries/2 {
				break
			}
		}
	}
	l.entries[hashPart] = e
}

func (l *localNarInfos) rememberMiss(hashPart string, until int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.misses) >= maxLocalEntries {
		clear(l.misses) // all expire within missTTL anyway
	}
	l.misses[hashPart] = until
}

func (l *localNarInfos) forget(hashPart string) {
	l.mu.Lock()
	delete(l.entries, hashPart)
	l.mu.Unlock()
}

func nix32(h *nixhash.Hash) string { return h.Format(nixhash.NixBase32, false) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

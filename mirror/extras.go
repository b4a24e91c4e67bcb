package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/private-nix-cache/private-nix-cache/internal/flight"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream"
)

// Limits of the listings and build logs taken from upstreams, decoded.
const (
	// maxListingSize bounds a listing (<hash>.ls): some 70-100 bytes of
	// JSON a file, so a kernel's modules (about 6,000 files) take well under
	// 1 MiB and 8 MiB holds about 100,000 files; a path with more has no
	// listing here.
	maxListingSize = 8 << 20
	// maxLogSize bounds a build log: most are a few KiB to a few MiB; the
	// noisiest builds (browsers, compilers with their test suites) reach
	// tens of MiB.
	maxLogSize = 32 << 20
	// extrasMaxBytes bounds the listings and logs kept on disk, in all.
	extrasMaxBytes = 1 << 30
	// extrasTimeout bounds one upstream fetch, shared by the clients
	// asking for the same file.
	extrasTimeout = 2 * time.Minute
	// extrasDir is the folder of the cache dir that holds them.
	extrasDir = "extras"
)

// extras serves listings and build logs of mirrored paths.
type extras struct {
	store   *extraStore
	fetches *flight.Group[string, []byte] // by store name, "ls/<hash>.ls"
	// listingLimit and logLimit are maxListingSize and maxLogSize but in
	// tests.
	listingLimit, logLimit int64
}

func newExtras(cacheDir string, log *slog.Logger) *extras {
	return &extras{
		store:   newExtraStore(filepath.Join(cacheDir, extrasDir), extrasMaxBytes, log),
		fetches: flight.New[string, []byte](extrasTimeout),

		listingLimit: maxListingSize,
		logLimit:     maxLogSize,
	}
}

// Listing returns the JSON listing (<hash>.ls, {"version":1,"root":…}) of
// a path whose narinfo the mirror serves, asked of the upstream that
// narinfo came from alone: another's listing might describe another build
// of the same path. Stored listings are served without asking; a fetched
// one is stored once it parses as a version 1 listing. Listings carry no
// signature: they are informational. Every failure wraps fs.ErrNotExist
// (and upstream.ErrUnavailable when an upstream could not be asked).
func (m *Mirror) Listing(ctx context.Context, hashPart string) (io.ReadSeekCloser, error) {
	if !narinfo.ValidHashPart(hashPart) {
		return nil, fmt.Errorf("listing %q: %w", hashPart, fs.ErrNotExist)
	}
	name := "ls/" + hashPart + ".ls"
	if f, ok := m.storedExtra(name); ok {
		return f, nil
	}
	e, _, err := m.narInfoEntry(ctx, hashPart)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", hashPart, err)
	}
	u := m.byName[e.Upstream]
	if u == nil {
		return nil, fmt.Errorf("listing %s: upstream %s is no longer configured: %w", hashPart, e.Upstream, fs.ErrNotExist)
	}
	return m.fetchExtra(ctx, name, func(ctx context.Context) ([]byte, string, error) {
		body, _, err := u.FetchFile(ctx, hashPart+".ls", m.extras.listingLimit)
		switch {
		case err == nil:
			err = checkListing(body)
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, upstream.ErrTooLarge) && !errors.Is(err, upstream.ErrUnavailable):
			// As a lookup of several upstreams says: not a miss.
			err = fmt.Errorf("%w: %w", upstream.ErrUnavailable, err)
		}
		return body, u.Name(), err
	})
}

// Log returns the build log of a derivation by its basename
// (<hash>-<name>.drv), decoded text, from the upstreams by priority.
// Stored logs are served without asking. Every failure wraps
// fs.ErrNotExist (and upstream.ErrUnavailable when an upstream could not
// be asked).
func (m *Mirror) Log(ctx context.Context, drv string) (io.ReadSeekCloser, error) {
	if !validDrvName(drv) {
		return nil, fmt.Errorf("build log %q: %w", drv, fs.ErrNotExist)
	}
	name := "log/" + drv
	if f, ok := m.storedExtra(name); ok {
		return f, nil
	}
	if m.ups == nil {
		return nil, fmt.Errorf("build log %s: %w (no upstreams)", drv, fs.ErrNotExist)
	}
	return m.fetchExtra(ctx, name, func(ctx context.Context) ([]byte, string, error) {
		body, _, from, err := m.ups.FetchFile(ctx, name, m.extras.logLimit)
		if from == nil {
			return body, "", err
		}
		return body, from.Name(), err
	})
}

// storedExtra opens a stored listing or log; a store that cannot be read
// is logged and passed over.
func (m *Mirror) storedExtra(name string) (io.ReadSeekCloser, bool) {
	f, err := m.extras.store.open(name)
	if err == nil {
		return f, true
	}
	if !errors.Is(err, fs.ErrNotExist) {
		m.log.Warn("read stored extra; asking upstreams", "name", name, "err", err)
	}
	return nil, false
}

// fetchExtra runs fetch once for name, whatever the number of callers,
// stores what it returns and hands each caller its own reader. Failures
// are never stored.
func (m *Mirror) fetchExtra(ctx context.Context, name string, fetch func(context.Context) ([]byte, string, error)) (io.ReadSeekCloser, error) {
	body, err := m.extras.fetches.Do(ctx, name, func(fctx context.Context) ([]byte, error) {
		start := time.Now()
		body, from, err := fetch(fctx)
		if err != nil {
			m.log.Log(fctx, extraFailLevel(err), "mirror extra not fetched", "name", name, "upstream", from, "err", err)
			return nil, err
		}
		if err := m.extras.store.put(name, body); err != nil {
			m.log.Warn("store extra; serving it unstored", "name", name, "err", err)
		}
		m.log.Info("mirror extra fetched", "name", name, "upstream", from, "bytes", len(body), "took", time.Since(start))
		return body, nil
	})
	switch {
	case errors.Is(err, flight.ErrLeft):
		return nil, fmt.Errorf("%s: %w: %w", name, fs.ErrNotExist, context.Cause(ctx))
	case err != nil:
		return nil, &notExistError{fmt.Errorf("%s: %w", name, err)}
	}
	return nopCloser{bytes.NewReader(body)}, nil
}

func extraFailLevel(err error) slog.Level {
	if errors.Is(err, upstream.ErrTooLarge) || errors.Is(err, errBadListing) {
		return slog.LevelWarn
	}
	return slog.LevelDebug // misses, and upstream failures logged where they happened
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// errBadListing is an upstream listing that is not a version 1 listing.
var errBadListing = errors.New("not a version 1 listing")

// checkListing accepts the JSON of a version 1 listing whose root is a
// node: {"version":1,"root":{"type":…}}.
func checkListing(b []byte) error {
	var l struct {
		Version int `json:"version"`
		Root    *struct {
			Type string `json:"type"`
		} `json:"root"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("%w: %w", errBadListing, err)
	}
	if l.Version != 1 || l.Root == nil {
		return fmt.Errorf("%w: version %d, root present: %t", errBadListing, l.Version, l.Root != nil)
	}
	switch l.Root.Type {
	case "regular", "directory", "symlink":
		return nil
	}
	return fmt.Errorf("%w: root of type %q", errBadListing, l.Root.Type)
}

// validDrvName accepts a derivation's basename, <hash>-<name>.drv, with a
// name of the characters Nix allows but '?', which would end a URL's path.
func validDrvName(s string) bool {
	const hashLen = narinfo.HashPartLen
	if len(s) < hashLen+6 || len(s) > hashLen+1+211 || s[hashLen] != '-' ||
		!narinfo.ValidHashPart(s[:hashLen]) || !strings.HasSuffix(s, ".drv") || s[hashLen+1] == '.' {
		return false
	}
	for i := hashLen + 1; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("+-._=", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

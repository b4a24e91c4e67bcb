// Package mirror serves paths of upstream binary caches through the local
// cache: narinfo lookups (stored, re-signed, negative entries for misses)
// and NAR downloads that are stored once and streamed to every client. It
// decides which upstream to ask and whom to blame; it returns readers and
// errors and writes no HTTP (the server does); it downloads NARs through
// the fill (package fill) and stores through the cache alone, never a
// file of it directly.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/fill"
	"github.com/private-nix-cache/private-nix-cache/internal/flight"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream"
)

// Config configures a Mirror. Cache is required.
type Config struct {
	// Cache stores narinfos and NARs. The Mirror does not close it.
	Cache *disk.Cache
	// Fill downloads NARs into Cache (fill.New over it). The Mirror does
	// not close it. nil: the Mirror makes one with its Logger and
	// Registerer, and closes it with itself.
	Fill *fill.Cache
	// Upstreams are asked for what the cache lacks. nil: only what is
	// already cached is served.
	Upstreams *upstream.Set
	// Keys are our secret keys; with Resign, every verified upstream
	// narinfo gets our signatures too (the upstream's are kept).
	Keys []signature.SecretKey
	// Resign adds our signatures. False, or no Keys: narinfos keep only the
	// upstream's signatures.
	Resign bool
	// Logger receives operational messages. nil: slog.Default().
	Logger *slog.Logger
	// Registerer receives the mirror metrics. nil: none registered.
	Registerer prometheus.Registerer
	// LookupTimeout bounds one upstream narinfo lookup, shared by all the
	// clients asking for that path. 0: 20s.
	LookupTimeout time.Duration
	// Recompress is the compression NARs are served in once re-encoded
	// (reencode.go): "zstd", or "none" for the NAR itself. "" or "off"
	// serves them as the upstream compressed them.
	Recompress string
	// RecompressLevel is the zstd level of re-encoded NARs; 0 means 1.
	RecompressLevel int
}

// URLPrefix is where the NARs of mirrored narinfos are served.
const URLPrefix = "nar/mirror/"

// Mirror is safe for concurrent use.
type Mirror struct {
	cache    *disk.Cache
	fills    *fill.Cache
	ownsFill bool // made by New: closed by Close
	ups      *upstream.Set
	byName   map[string]*upstream.Upstream
	keys     []signature.SecretKey
	log      *slog.Logger
	m        *metrics

	recompress      string // "" when off
	recompressLevel int

	lookups      *flight.Group[string, *cache.NarInfoEntry] // by hash part
	realisations *realisations

	staleMu sync.Mutex
	stale   map[string]bool // hash parts whose upstream failed their NAR

	extras *extras // listings and build logs (extras.go)
}

// New checks cfg and builds the Mirror.
func New(cfg Config) (*Mirror, error) {
	if cfg.Cache == nil {
		return nil, errors.New("mirror: no cache")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 20 * time.Second
	}
	m := &Mirror{
		cache:        cfg.Cache,
		fills:        cfg.Fill,
		ups:          cfg.Upstreams,
		byName:       make(map[string]*upstream.Upstream),
		log:          cfg.Logger,
		m:            newMetrics(cfg.Registerer),
		lookups:      flight.New[string, *cache.NarInfoEntry](cfg.LookupTimeout),
		realisations: newRealisations(cfg.LookupTimeout),
		stale:        make(map[string]bool),
		extras:       newExtras(cfg.Cache.Dir(), cfg.Logger),
	}
	if cfg.Resign {
		m.keys = cfg.Keys
	}
	switch cfg.Recompress {
	case "", "off":
	case "zstd", "none":
		m.recompress, m.recompressLevel = cfg.Recompress, cfg.RecompressLevel
	default:
		return nil, fmt.Errorf("mirror: cannot recompress to %q", cfg.Recompress)
	}
	if m.ups != nil {
		for _, u := range m.ups.Upstreams() {
			m.byName[u.Name()] = u
		}
	}
	if m.fills == nil {
		m.fills = fill.New(cfg.Cache, fill.Options{Logger: cfg.Logger, Registerer: cfg.Registerer})
		m.ownsFill = true
	}
	return m, nil
}

// Close cancels the lookups in progress. It closes neither the Cache, nor
// a Fill it was given, nor the upstreams; downloads in progress belong to
// the Fill.
func (m *Mirror) Close() error {
	if m.ownsFill {
		m.fills.Close()
	}
	m.lookups.Close()
	m.realisations.fetches.Close()
	m.extras.fetches.Close()
	m.m.unregister()
	return nil
}

// NarInfo returns the narinfo of hashPart as served here (NAR URL under
// nar/mirror/, our signature added when re-signing). A cached narinfo or
// negative entry is answered without asking upstreams. Every failure is
// fs.ErrNotExist-wrapped, but only a miss on every upstream is remembered
// (for the cache's NegativeTTL); an unavailable upstream is not.
func (m *Mirror) NarInfo(ctx context.Context, hashPart string) (*narinfo.NarInfo, error) {
	e, _, err := m.narInfoEntry(ctx, hashPart)
	if err != nil {
		return nil, err
	}
	return e.NarInfo.Clone(), nil
}

// NarInfoBytes is NarInfo as the exact bytes to serve, the ones stored,
// so that a hit costs no serialisation. The bytes are shared: do not
// modify them.
func (m *Mirror) NarInfoBytes(ctx context.Context, hashPart string) ([]byte, error) {
	body, _, err := m.NarInfoBytesHit(ctx, hashPart)
	return body, err
}

// NarInfoBytesHit is NarInfoBytes that also reports whether the narinfo
// was stored already (a hit) rather than asked of the upstreams now.
func (m *Mirror) NarInfoBytesHit(ctx context.Context, hashPart string) ([]byte, bool, error) {
	e, hit, err := m.narInfoEntry(ctx, hashPart)
	if err != nil {
		return nil, hit, err
	}
	if e.Raw == nil {
		return e.NarInfo.Bytes(), hit, nil
	}
	return e.Raw, hit, nil
}

// narInfoEntry returns the stored or looked-up narinfo of hashPart, and
// whether it was stored already.
func (m *Mirror) narInfoEntry(ctx context.Context, hashPart string) (*cache.NarInfoEntry, bool, error) {
	if !narinfo.ValidHashPart(hashPart) {
		return nil, false, fmt.Errorf("narinfo %q: %w", hashPart, fs.ErrNotExist)
	}
	e, err := m.cache.NarInfo(hashPart)
	if err == nil {
		return e, true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		m.log.Warn("read cached narinfo; asking upstreams", "hash", hashPart, "err", err)
	}
	if m.cache.Negative(hashPart) {
		return nil, true, fmt.Errorf("narinfo %s: %w (negative entry)", hashPart, fs.ErrNotExist)
	}
	e, err = m.lookup(ctx, hashPart)
	return e, false, err
}

// lookup asks the upstreams once for hashPart, whatever the number of
// callers; the lookup runs detached so that a caller leaving does not
// fail the others.
func (m *Mirror) lookup(ctx context.Context, hashPart string) (*cache.NarInfoEntry, error) {
	e, err := m.lookups.Do(ctx, hashPart, func(lctx context.Context) (*cache.NarInfoEntry, error) {
		return m.doLookup(lctx, hashPart)
	})
	if errors.Is(err, flight.ErrLeft) {
		return nil, fmt.Errorf("narinfo %s: %w: %w", hashPart, fs.ErrNotExist, context.Cause(ctx))
	}
	return e, err
}

func (m *Mirror) doLookup(ctx context.Context, hashPart string) (*cache.NarInfoEntry, error) {
	if m.ups == nil {
		return nil, fmt.Errorf("narinfo %s: %w (no upstreams)", hashPart, fs.ErrNotExist)
	}
	found, err := m.ups.Lookup(ctx, hashPart)
	switch {
	case err == nil:
	case errors.Is(err, upstream.ErrUnavailable):
		m.m.lookups.WithLabelValues("unavailable").Inc()
		return nil, &notExistError{err}
	case errors.Is(err, fs.ErrNotExist):
		m.m.lookups.WithLabelValues("miss").Inc()
		if cached, cerr := m.cache.NarInfo(hashPart); cerr == nil && m.usable(cached, hashPart) {
			// A NAR request asked again after a failed transfer: one miss
			// does not outweigh a narinfo verified before (see entry).
			return nil, err
		}
		if err := m.cache.DeleteNarInfo(hashPart); err != nil {
			m.log.Warn("forget narinfo", "hash", hashPart, "err", err)
		}
		if err := m.cache.PutNegative(hashPart); err != nil {
			m.log.Warn("store negative entry", "hash", hashPart, "err", err)
		}
		return nil, err
	default:
		m.m.lookups.WithLabelValues("error").Inc()
		return nil, &notExistError{err}
	}
	m.m.lookups.WithLabelValues("found").Inc()
	ni := found.NarInfo.Clone()
	if ni.HashPart() != hashPart {
		return nil, fmt.Errorf("narinfo %s: upstream %s answered for %s: %w", hashPart, found.Upstream.Name(), ni.StorePath, fs.ErrNotExist)
	}
	key, err := narinfo.NarFileKey(hashPart, ni.NarHash, ni.Compression)
	if err != nil {
		m.log.Warn("cannot mirror narinfo", "hash", hashPart, "upstream", found.Upstream.Name(), "err", err)
		return nil, fmt.Errorf("narinfo %s: %w: %w", hashPart, fs.ErrNotExist, err)
	}
	if err := ni.CheckCA(); err != nil {
		// Refused, not passed on unsigned by us: hosts trusting the
		// upstream's key would still take it, and the cache would keep it.
		m.log.Warn("narinfo refused", "hash", hashPart, "upstream", found.Upstream.Name(), "err", err)
		return nil, fmt.Errorf("narinfo %s: %w: %w", hashPart, fs.ErrNotExist, err)
	}
	if !narinfo.CanDecode(ni.Compression) {
		// Its NarHash could not be checked before a client has every byte.
		m.log.Warn("narinfo refused: compression cannot be verified here", "hash", hashPart, "upstream", found.Upstream.Name(), "compression", ni.Compression)
		return nil, fmt.Errorf("narinfo %s: %w: compression %q cannot be verified", hashPart, fs.ErrNotExist, ni.Compression)
	}
	upstreamURL := ni.URL
	ni.URL = URLPrefix + key
	if len(m.keys) > 0 {
		if err := ni.Sign(m.keys...); err != nil {
			return nil, fmt.Errorf("sign narinfo %s: %w", hashPart, err)
		}
	}
	e := cache.NarInfoEntry{NarInfo: ni, Raw: ni.Bytes(), Key: key, Upstream: found.Upstream.Name(), UpstreamURL: upstreamURL}
	if err := m.cache.PutNarInfo(e); err != nil {
		m.log.Warn("store narinfo", "hash", hashPart, "err", err)
	}
	m.setStale(hashPart, false)
	return &e, nil
}

func (m *Mirror) setStale(hashPart string, stale bool) {
	m.staleMu.Lock()
	defer m.staleMu.Unlock()
	if !stale {
		delete(m.stale, hashPart)
		return
	}
	if len(m.stale) >= 100_000 {
		clear(m.stale) // only costs extra lookups
	}
	m.stale[hashPart] = true
}

func (m *Mirror) isStale(hashPart string) bool {
	m.staleMu.Lock()
	defer m.staleMu.Unlock()
	return m.stale[hashPart]
}

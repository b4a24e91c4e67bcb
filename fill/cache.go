// Package fill is the fill machinery above a cache.Store: one download per
// NAR file key, whatever the number of clients asking for it, while they
// follow it (readers of the growing file, FileWriter.Follow, or of memory
// for small files, within a byte budget); pass-through streams when
// nothing can be stored (CannotStore, an undecodable compression, a store
// that cannot follow its writer, a write refused mid-download); resumes
// with Range; FileHash, NarHash and NarSize checks within a bounded number
// of decoders; and copies re-encoded to zstd or none (Reencode), their
// originals superseded (Store.Supersede).
//
// It owns the downloads, not the files: it reaches storage only through
// the cache package's interfaces, never a backend (cache/disk, cache/s3),
// and it writes no HTTP and knows no upstream but the FillSpec's Fetch.
package fill

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/internal/promreg"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// Options configures a Cache.
type Options struct {
	// Logger receives operational messages. Nil discards them.
	Logger *slog.Logger
	// Registerer receives the fill metrics. Nil registers nothing. The
	// NAR hits and misses share their series with the store's narinfo
	// ones (private_nix_cache_cache_hits_total).
	Registerer prometheus.Registerer
	// FillTimeout bounds one whole upstream download. Zero means 1 hour.
	FillTimeout time.Duration
	// StallTimeout ends an upstream request that makes no progress for
	// that long, including the wait for the first byte; the download then
	// resumes, a few times at most. Zero means 30s.
	StallTimeout time.Duration

	// For tests only: memoryBudget bounds the buffers of downloads into
	// memory (zero means 64 MiB); testHookMemoryReserved runs after
	// reserveMemory; testHookNarCheck runs before each NarHash check of a
	// fill, once it holds its slot.
	memoryBudget           int64
	testHookMemoryReserved func()
	testHookNarCheck       func()
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FillTimeout == 0 {
		o.FillTimeout = time.Hour
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = 30 * time.Second
	}
	if o.memoryBudget == 0 {
		o.memoryBudget = 64 << 20
	}
}

// Cache downloads NAR files into a cache.Store and serves them, stored or
// on their way. It is safe for concurrent use. Close it before its store.
type Cache struct {
	store  cache.Store
	opts   Options
	log    *slog.Logger
	m      *metrics
	checks *checkSlots // NarHash checks decompressing at once

	ctx    context.Context // cancelled by Close; parent of every fill
	cancel context.CancelFunc
	wg     sync.WaitGroup // fills, their checks and ReencodeStored

	mu     sync.Mutex       // fills and closed
	fills  map[string]*fill // downloads in progress by key
	closed bool

	memMu    sync.Mutex
	memBytes int64 // buffers of downloads into memory

	reencodingMu sync.Mutex      // taken under mu, never the other way round
	reencoding   map[string]bool // copies of stored files being made (ReencodeStored)
}

// New returns the fill of store. The store must outlive it.
func New(store cache.Store, opts Options) *Cache {
	opts.setDefaults()
	c := &Cache{
		store:      store,
		opts:       opts,
		log:        opts.Logger,
		m:          newMetrics(opts.Registerer),
		checks:     newCheckSlots(),
		fills:      make(map[string]*fill),
		reencoding: make(map[string]bool),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Close cancels the downloads in progress and waits for them to end.
// Readers handed out of committed files stay readable.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.m.reg.Unregister()
	return nil
}

// Store returns the store the fill writes into.
func (c *Cache) Store() cache.Store { return c.store }

// validKey reports whether key can name a NAR file (narinfo.ValidFileName).
func validKey(key string) bool { return narinfo.ValidFileName(key) }

type metrics struct {
	reg *promreg.Registration

	hits, misses  *prometheus.CounterVec // kind "nar" is the fill's
	fetched       prometheus.Counter
	resumes       prometheus.Counter
	verifyFailed  prometheus.Counter
	passthrough   prometheus.Counter
	reencoded     prometheus.Counter
	fillsInFlight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		fetched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_upstream_fetched_bytes_total", Help: "NAR bytes the cache took in from upstream downloads (stored or streamed through), from where each download started or resumed; private_nix_cache_upstream_bytes_total also counts bytes an upstream sent before a resume offset.",
		}),
		resumes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_upstream_resumes_total", Help: "NAR downloads resumed where the upstream cut or stalled the body.",
		}),
		verifyFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_verification_failures_total", Help: "Downloads whose hash or size did not match the narinfo.",
		}),
		passthrough: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_passthrough_total", Help: "NAR downloads streamed without storing (disk full, unverifiable, too big).",
		}),
		reencoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_reencoded_total", Help: "NAR files re-encoded from the upstream's compression and stored.",
		}),
		fillsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "private_nix_cache_fills_in_progress", Help: "Upstream NAR downloads in progress.",
		}),
	}
	// A failed (duplicate) registration only loses the export.
	m.reg = promreg.Register(reg, m.fetched, m.resumes, m.verifyFailed, m.passthrough, m.reencoded, m.fillsInFlight)
	m.hits, m.misses = promreg.HitsMisses(m.reg)
	return m
}

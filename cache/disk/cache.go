// Package disk is the cache.Store on a local folder: verified NAR files
// in a sharded folder tree, a bbolt index of narinfos, NAR files and
// negative entries, eviction down to a size limit, sweeps and the offline
// GC and Verify, the background scrub, the free-space floor, the admin
// socket, and the removal of superseded files (Supersede). It stores what
// it is given and checks no download: the fill (package fill) downloads,
// checks and commits NAR files through the cache.Store it implements.
// It may not import the fill, the mirror or the server; the re-hashing of
// Verify and the scrub is internal/narcheck's.
package disk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Options configures a Cache. Only Dir is required.
type Options struct {
	// Dir holds index.db, nar/ and tmp/. It is created if missing.
	Dir string
	// MaxSize bounds the bytes of stored NAR files; least recently used
	// files are evicted past it, with the narinfos that name them. Zero
	// means no limit.
	MaxSize int64
	// NegativeTTL is how long a negative entry lasts. Zero means 10 minutes.
	NegativeTTL time.Duration
	// Logger receives operational messages. Nil discards them.
	Logger *slog.Logger
	// Registerer receives the cache metrics. Nil registers nothing.
	Registerer prometheus.Registerer

	// LockTimeout is how long Open waits for the index lock. Zero means 1s.
	LockTimeout time.Duration
	// DiskRetry is how long CannotStore says the disk refused a write,
	// after it did, before new files are tried again (the fill streams
	// without storing meanwhile). Zero means 30s.
	DiskRetry time.Duration
	// CommitDelay is how long verified NAR files and index changes gather
	// before they are made durable in one batch. Clients never wait for
	// it; a crash loses at most that much, to be fetched again. Zero means
	// 200ms.
	CommitDelay time.Duration
	// FlushInterval is how often batched last-access times are written to
	// the index. Zero means 5s.
	FlushInterval time.Duration
	// HotNarInfos is the size of the in-memory narinfo LRU. Zero means 10000.
	HotNarInfos int
	// HotNarInfoBytes bounds the memory of that LRU too, as estimated from
	// the narinfos held (text and parsed fields). Zero means 64 MiB, some
	// 20,000 typical narinfos: HotNarInfos is the bound for those, this one
	// for unusually large ones.
	HotNarInfoBytes int64

	// ScrubInterval is how long one pass re-hashing every stored NAR file
	// is spread over (scrub.go); bad files are removed. Zero means no scrub.
	ScrubInterval time.Duration
	// ScrubRate caps the bytes per second the scrub reads. Zero means
	// 20 MB/s.
	ScrubRate int64
	// MinFreeBytes, or else MinFreePercent of the file system, is the free
	// space kept on the cache's file system by evicting least recently
	// used files (minfree.go). Zero (both) keeps none.
	MinFreeBytes   int64
	MinFreePercent float64
	// SupersededGrace is how long a NAR file replaced by a re-encoded copy
	// (Supersede) is kept unread before it is removed, for clients that
	// still hold a narinfo naming it. Zero means 1 hour.
	SupersededGrace time.Duration

	// testHookNarInfoRead, set only by tests, runs between reading a
	// narinfo from the pending changes or the index and keeping it in the
	// LRU.
	testHookNarInfoRead func(hashPart string)
}

func (o *Options) setDefaults() {
	if o.NegativeTTL == 0 {
		o.NegativeTTL = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = time.Second
	}
	if o.DiskRetry == 0 {
		o.DiskRetry = 30 * time.Second
	}
	if o.CommitDelay == 0 {
		o.CommitDelay = 200 * time.Millisecond
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = 5 * time.Second
	}
	if o.HotNarInfos == 0 {
		o.HotNarInfos = 10000
	}
	if o.HotNarInfoBytes == 0 {
		o.HotNarInfoBytes = 64 << 20
	}
	if o.ScrubRate == 0 {
		o.ScrubRate = 20_000_000
	}
	if o.SupersededGrace == 0 {
		o.SupersededGrace = time.Hour
	}
}

// ErrLocked is returned by Open when another process holds the index.
var ErrLocked = errors.New("cache index is locked")

// Cache is an open cache directory. It is safe for concurrent use.
type Cache struct {
	opts   Options
	log    *slog.Logger
	db     *bolt.DB
	m      *metrics
	narDir string
	tmpDir string

	ctx    context.Context // cancelled by Close; parent of the upkeep
	cancel context.CancelFunc
	wg     sync.WaitGroup // the flusher, the scrub and the free-space floor

	hot      *hotNarInfos
	pending  *pendingIndex  // index changes not yet written
	incoming *incomingFiles // files on their way (Incoming)

	mu         sync.Mutex
	files      map[string]*fileEntry // committed NAR files by key
	total      int64                 // bytes of committed NAR files
	touchedNar *touchSet             // key → last access (unix nanos) not yet in the index
	touchedNI  *touchSet             // hash part → last access not yet in the index
	superseded map[string]int64      // key → when a re-encoded copy replaced it (superseded.go)
	closed     bool

	sweep narInfoSweep
	scrub *scrubber  // nil without ScrubInterval
	floor *freeFloor // nil without a free-space floor

	disk diskState
}

type fileEntry struct {
	size  int64
	atime int64 // unix nanos
}

// Open opens (creating if needed) the cache in opts.Dir, sweeps leftover
// temp files, reconciles the index with the files on disk and evicts down
// to MaxSize.
func Open(opts Options) (*Cache, error) {
	opts.setDefaults()
	if opts.Dir == "" {
		return nil, errors.New("open cache: no directory given")
	}
	c := &Cache{
		opts:       opts,
		log:        opts.Logger,
		narDir:     filepath.Join(opts.Dir, "nar"),
		tmpDir:     filepath.Join(opts.Dir, "tmp"),
		hot:        newHotNarInfos(opts.HotNarInfos, opts.HotNarInfoBytes),
		pending:    newPendingIndex(),
		incoming:   newIncomingFiles(),
		files:      make(map[string]*fileEntry),
		touchedNar: newTouchSet(maxTouches),
		touchedNI:  newTouchSet(maxTouches),
		superseded: make(map[string]int64),
	}
	for _, d := range []string{opts.Dir, c.narDir, c.tmpDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open cache: %w", err)
		}
	}
	dbPath := filepath.Join(opts.Dir, "index.db")
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("another process holds the cache index at %s: %w", dbPath, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open cache index %s: %w", dbPath, err)
	}
	c.db = db
	if err := c.initIndex(); err != nil {
		db.Close()
		return nil, err
	}
	if err := c.reconcile(); err != nil {
		db.Close()
		return nil, err
	}
	c.m = newMetrics(opts.Registerer)
	c.initUpkeep()
	c.evict()
	c.updateGauges()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.diskLoop()
	c.wg.Add(1)
	go c.flushLoop()
	c.startUpkeep()
	return c, nil
}

// Close stops the upkeep, writes pending index changes and
// last-access times, and closes the index. Files already handed out stay readable.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	close(c.pending.closing)
	c.wg.Wait()
	c.closePending()
	err := c.flushTouches()
	if cerr := c.db.Close(); err == nil {
		err = cerr
	}
	c.m.unregister()
	c.stopUpkeep()
	return err
}

// Dir returns the cache directory.
func (c *Cache) Dir() string { return c.opts.Dir }

// Size returns the bytes of stored NAR files and their number.
func (c *Cache) Size() (bytes int64, files int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total, len(c.files)
}

func (c *Cache) flushLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			if err := c.flushTouches(); err != nil {
				c.log.Warn("write last-access times", "err", err)
			}
			if _, err := c.sweepNegatives(negativeSweepChunk); err != nil {
				c.log.Warn("sweep negative entries", "err", err)
			}
			if _, err := c.sweepNarInfos(time.Now(), sweepChunk); err != nil {
				c.log.Warn("sweep inactive narinfos", "err", err)
			}
			c.dropSuperseded(time.Now())
		}
	}
}

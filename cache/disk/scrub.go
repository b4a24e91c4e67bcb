package disk

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/internal/promreg"
)

// scrubber re-hashes stored NAR files in the background, as Verify does,
// one pass spread over ScrubInterval and never faster than ScrubRate, so
// that bit rot is found before a client gets the file (it would refuse it,
// and fetch it from upstream itself). A bad file goes with its narinfos,
// so the next request fetches the path again.
type scrubber struct {
	checked, bad, bytes prometheus.Counter
	reg                 *promreg.Registration
}

// scrubPosFile remembers the last key checked, so that a pass goes on
// where it stopped after a restart rather than re-reading its start.
const scrubPosFile = "scrub.pos"

func newScrubber(reg prometheus.Registerer) *scrubber {
	s := &scrubber{
		checked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_scrub_checked_total", Help: "Stored NAR files re-hashed by the background scrub.",
		}),
		bad: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_scrub_bad_total", Help: "Stored NAR files the scrub found corrupt and removed.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_scrub_bytes_total", Help: "Bytes of stored NAR files the scrub re-hashed.",
		}),
	}
	s.reg = promreg.Register(reg, s.checked, s.bad, s.bytes)
	return s
}

// initUpkeep prepares the scrub and the free-space floor as Options say.
func (c *Cache) initUpkeep() {
	if c.opts.ScrubInterval > 0 {
		c.scrub = newScrubber(c.opts.Registerer)
	}
	c.floor = newFreeFloor(c.opts)
}

// startUpkeep starts their loops, which end with the cache's context.
func (c *Cache) startUpkeep() {
	if c.scrub != nil {
		c.wg.Add(1)
		go c.scrubLoop()
	}
	if c.floor != nil {
		c.wg.Add(1)
		go c.floorLoop()
	}
}

func (c *Cache) stopUpkeep() {
	if c.scrub != nil {
		c.scrub.reg.Unregister()
	}
}

func (c *Cache) scrubLoop() {
	defer c.wg.Done()
	for c.ctx.Err() == nil {
		start := time.Now()
		c.scrubPass()
		// A pass over an empty cache, or one that ran over, still waits
		// a little, so that the loop never spins.
		next := start.Add(c.opts.ScrubInterval)
		if min := time.Now().Add(c.opts.ScrubInterval / 100); next.Before(min) {
			next = min
		}
		if sleepUntil(c.ctx, next) != nil {
			return
		}
	}
}

// scrubPass checks the files after the saved position, in key order,
// spread over the share of the interval their bytes are of the cache.
func (c *Cache) scrubPass() {
	files := c.fileSnapshot()
	slices.SortFunc(files, func(a, b fileRef) int { return strings.Compare(a.key, b.key) })
	var all int64
	for _, f := range files {
		all += f.size
	}
	pos := c.readScrubPos()
	i, _ := slices.BinarySearchFunc(files, pos, func(f fileRef, k string) int { return strings.Compare(f.key, k) })
	if i < len(files) && files[i].key == pos {
		i++
	}
	start, done := time.Now(), int64(0)
	for _, f := range files[i:] {
		if all > 0 && sleepUntil(c.ctx, start.Add(time.Duration(float64(c.opts.ScrubInterval)*float64(done)/float64(all)))) != nil {
			return
		}
		done += f.size
		c.scrubFile(f.key)
		if c.ctx.Err() != nil {
			return
		}
		c.writeScrubPos(f.key)
	}
	c.writeScrubPos("")
}

func (c *Cache) scrubFile(key string) {
	spec := c.storedSpec(key)
	if spec == nil {
		return
	}
	n, err := c.checkStored(key, spec, func(r io.Reader) io.Reader {
		return &paced{ctx: c.ctx, r: r, rate: c.opts.ScrubRate, start: time.Now()}
	})
	switch {
	case errors.Is(err, fs.ErrNotExist) || c.ctx.Err() != nil:
		return
	case errors.Is(err, cache.ErrVerify):
		c.scrub.bad.Inc()
	case err != nil:
		c.log.Warn("scrub nar file", "key", key, "err", err)
		return
	}
	c.scrub.checked.Inc()
	c.scrub.bytes.Add(float64(n))
}

func (c *Cache) readScrubPos() string {
	b, err := os.ReadFile(filepath.Join(c.opts.Dir, scrubPosFile))
	if err != nil || !validKey(strings.TrimSpace(string(b))) {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// writeScrubPos is not synced: a position lost in a crash only costs
// re-reading part of a pass.
func (c *Cache) writeScrubPos(key string) {
	if err := os.WriteFile(filepath.Join(c.opts.Dir, scrubPosFile), []byte(key+"\n"), 0o644); err != nil {
		c.log.Debug("save scrub position", "err", err)
	}
}

// paced reads r at most rate bytes per second (averaged from start),
// ending early with the context's error.
type paced struct {
	ctx   context.Context
	r     io.Reader
	rate  int64
	start time.Time
	n     int64
}

func (p *paced) Read(b []byte) (int, error) {
	if len(b) > 256<<10 {
		b = b[:256<<10] // small steps keep the pace smooth
	}
	due := p.start.Add(time.Duration(float64(p.n) / float64(p.rate) * float64(time.Second)))
	if err := sleepUntil(p.ctx, due); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	return n, err
}

// sleepUntil waits until t, or until ctx ends (its error).
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

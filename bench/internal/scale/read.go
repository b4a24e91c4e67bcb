package scale

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache/disk"
)

// ReadOptions says how to read a filled store.
type ReadOptions struct {
	Dir      string
	Duration time.Duration // of the random reads
	// Hot is the size of the store's narinfo LRU; zero means N/100, at
	// least 100 (10,000 at a million paths: the server's default).
	Hot int
	// Readers is the number of goroutines reading; zero means one per
	// core (GOMAXPROCS): more would time the scheduler's queue.
	Readers int
}

// ReadResult is what reading a filled store found.
type ReadResult struct {
	Hot     int `json:"hot_narinfos"`
	Readers int `json:"readers"`
	// OpenSeconds is the time disk.Open took; ServingSeconds that plus the
	// first lookup, which must succeed.
	OpenSeconds    float64 `json:"open_seconds"`
	ServingSeconds float64 `json:"serving_seconds"`
	ReadSeconds    float64 `json:"read_seconds"`
	Lookups        uint64  `json:"lookups"`
	LookupsPerSec  float64 `json:"lookups_per_second"`
	// Hit are lookups of a small set read over and over, which stays in
	// the LRU; Miss are lookups of random keys out of all the others, of
	// which at most Hot/N can be in the LRU.
	Hit  Latency `json:"lru_hit"`
	Miss Latency `json:"lru_miss"`
	// Memory of this process once the reads ended (Open included in the
	// peak): VmHWM, and the anonymous and file-backed (index mmap) parts
	// of the resident set then.
	PeakRSS      int64   `json:"peak_rss_bytes"`
	RSSAnon      int64   `json:"rss_anon_bytes"`
	RSSFile      int64   `json:"rss_file_bytes"`
	CloseSeconds float64 `json:"close_seconds"` // Close after the reads
	IndexBytes   int64   `json:"index_bytes"`   // of index.db after that Close
}

func (o *ReadOptions) setDefaults(n int) {
	if o.Hot == 0 {
		o.Hot = max(n/100, 100)
	}
	if o.Readers == 0 {
		o.Readers = runtime.GOMAXPROCS(0)
	}
}

// Read opens the store that Fill made in o.Dir with g, looks up random
// narinfos from o.Readers goroutines for o.Duration, and closes it.
func Read(o ReadOptions, g *Generator) (ReadResult, error) {
	o.setDefaults(g.N())
	res := ReadResult{Hot: o.Hot, Readers: o.Readers}
	start := time.Now()
	c, err := disk.Open(disk.Options{Dir: o.Dir, HotNarInfos: o.Hot})
	if err != nil {
		return res, err
	}
	res.OpenSeconds = time.Since(start).Seconds()
	if _, err := c.NarInfo(g.HashPart(rand.IntN(g.N()))); err != nil {
		c.Close()
		return res, fmt.Errorf("first lookup: %w", err)
	}
	res.ServingSeconds = time.Since(start).Seconds()

	hot := newHotSet(g.N(), o.Hot/4)
	for j := range hot.size {
		if _, err := c.NarInfo(g.HashPart(hot.index(j))); err != nil {
			c.Close()
			return res, fmt.Errorf("warm lookup: %w", err)
		}
	}
	hit, miss, err := readFor(c, g, hot, o)
	if err != nil {
		c.Close()
		return res, err
	}
	res.ReadSeconds = o.Duration.Seconds()
	res.Lookups = hit.Count() + miss.Count()
	res.LookupsPerSec = float64(res.Lookups) / o.Duration.Seconds()
	res.Hit, res.Miss = hit.Summary(), miss.Summary()
	mem, err := selfStatus("VmHWM", "RssAnon", "RssFile")
	if err != nil {
		c.Close()
		return res, err
	}
	res.PeakRSS, res.RSSAnon, res.RSSFile = mem[0], mem[1], mem[2]

	start = time.Now()
	if err := c.Close(); err != nil {
		return res, err
	}
	res.CloseSeconds = time.Since(start).Seconds()
	info, err := os.Stat(filepath.Join(o.Dir, "index.db"))
	if err != nil {
		return res, err
	}
	res.IndexBytes = info.Size()
	return res, nil
}

// hotSet is the paths read over and over: every stride-th of the first
// size*stride, so that a random other path is told apart by arithmetic.
type hotSet struct{ size, stride int }

func newHotSet(n, size int) hotSet {
	size = min(max(size, 1), n)
	return hotSet{size: size, stride: n / size}
}

func (h hotSet) index(j int) int { return j * h.stride }

func (h hotSet) contains(i int) bool { return i%h.stride == 0 && i/h.stride < h.size }

// readFor runs the readers, each alternating a hot and a random other
// lookup, and returns the latencies of each kind.
func readFor(c *disk.Cache, g *Generator, hot hotSet, o ReadOptions) (hit, miss *Histogram, err error) {
	hit, miss = new(Histogram), new(Histogram)
	var mu sync.Mutex
	var failed atomic.Pointer[error]
	deadline := time.Now().Add(o.Duration)
	var wg sync.WaitGroup
	for w := range o.Readers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			var h, m Histogram
			for k := 0; failed.Load() == nil; k++ {
				if k%256 == 0 && time.Now().After(deadline) {
					break
				}
				i, into := hot.index(r.IntN(hot.size)), &h
				if k%2 == 1 {
					for i = r.IntN(g.N()); hot.contains(i); i = r.IntN(g.N()) {
					}
					into = &m
				}
				hashPart := g.HashPart(i)
				t := time.Now()
				_, err := c.NarInfo(hashPart)
				into.Record(time.Since(t))
				if err != nil {
					err = fmt.Errorf("lookup %s (path %d): %w", hashPart, i, err)
					failed.CompareAndSwap(nil, &err)
				}
			}
			mu.Lock()
			hit.Merge(&h)
			miss.Merge(&m)
			mu.Unlock()
		})
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return nil, nil, *p
	}
	return hit, miss, nil
}

// selfStatus reads fields given in kB from /proc/self/status, in bytes.
func selfStatus(fields ...string) ([]int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := make([]int64, len(fields))
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		for j, want := range fields {
			if key != want {
				continue
			}
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/self/status %s: %w", key, err)
			}
			out[j] = kb << 10
			found++
		}
	}
	if found != len(fields) {
		return nil, fmt.Errorf("/proc/self/status lacks some of %v", fields)
	}
	return out, sc.Err()
}

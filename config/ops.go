package config

import (
	"flag"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Ops are the settings of the server's own upkeep: the admin socket, the
// background scrub, the free-space floor and the memory limit.
type Ops struct {
	// AdminSocket is the unix socket gc and verify reach a running server
	// through; "" means <state-dir>/admin.sock.
	AdminSocket string `toml:"admin-socket"`
	// ScrubInterval is how long one pass re-hashing every stored NAR is
	// spread over; 0 turns the scrub off.
	ScrubInterval Duration `toml:"scrub-interval"`
	// ScrubRate caps the bytes per second the scrub reads, as a size
	// ("20MB"); "0" turns the scrub off.
	ScrubRate string `toml:"scrub-rate"`
	// MinFree is the free space kept on the cache's file system, evicting
	// least recently used NARs: a size ("2GiB") or a percentage of the
	// file system ("5%"); "0" keeps none.
	MinFree string `toml:"min-free"`
	// MemoryLimit is the soft limit of the Go runtime's memory ("160MiB"):
	// nearer it the garbage collector runs more often rather than let
	// garbage grow to twice what is live; it never fails an allocation.
	// "0" leaves the runtime's default; GOMEMLIMIT, when set, wins.
	MemoryLimit string `toml:"memory-limit"`
}

// defaultOps: a weekly scrub at 20 MB/s (a 1 TB cache fits in 14 hours of
// the week), and 5% of the file system kept free, which scales from a
// small VM disk to a large one and leaves room for the builds and the
// Nix store the cache often shares its disk with.
//
// 160 MiB of memory: what is live stays under 100 MiB with a thousand
// clients on cold and warm NARs (bench/soak), and a burst of misses
// otherwise let the heap grow to twice its live size, above 300 MiB.
func defaultOps() Ops {
	return Ops{ScrubInterval: Duration(7 * 24 * time.Hour), ScrubRate: "20MB", MinFree: "5%", MemoryLimit: "160MiB"}
}

func (c *Config) opsFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.AdminSocket, "admin-socket", c.AdminSocket, "unix socket `PATH` gc and verify reach the running server through; empty: STATE-DIR/admin.sock")
	fs.Var(&c.ScrubInterval, "scrub-interval", "spread one pass re-hashing every stored NAR over this long; 0: no scrub")
	fs.StringVar(&c.ScrubRate, "scrub-rate", c.ScrubRate, "most bytes per second the scrub reads (`SIZE`, e.g. 20MB); 0: no scrub")
	fs.StringVar(&c.MemoryLimit, "memory-limit", c.MemoryLimit, "soft `SIZE` of the server's memory: the garbage collector works harder near it (0: Go's default; GOMEMLIMIT wins)")
	fs.StringVar(&c.MinFree, "min-free", c.MinFree, "free space kept on the cache's file system, evicting old NARs: `SIZE` or PERCENT% (e.g. 2GiB, 5%); 0: none")
}

// AdminSocketPath is AdminSocket, or its default under StateDir.
func (c *Config) AdminSocketPath() string {
	if c.AdminSocket != "" {
		return c.AdminSocket
	}
	return filepath.Join(c.StateDir, "admin.sock")
}

// ScrubRateBytes is ScrubRate in bytes per second; 0 means no scrub.
func (c *Config) ScrubRateBytes() (int64, error) { return sizeBytes("scrub-rate", c.ScrubRate) }

// MemoryLimitBytes is MemoryLimit in bytes; 0 means none.
func (c *Config) MemoryLimitBytes() (int64, error) { return sizeBytes("memory-limit", c.MemoryLimit) }

// MinFreeSetting is MinFree as an absolute floor in bytes or a
// percentage of the file system (one of them, or neither for none).
func (c *Config) MinFreeSetting() (bytes int64, percent float64, err error) {
	if p, ok := strings.CutSuffix(strings.TrimSpace(c.MinFree), "%"); ok {
		v, perr := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if perr != nil || v < 0 || v >= 100 {
			return 0, 0, bad("min-free", "%q is not a percentage from 0%% to 99%%", c.MinFree)
		}
		return 0, v, nil
	}
	n, err := sizeBytes("min-free", c.MinFree)
	return n, 0, err
}

func (c *Config) validateOps() error {
	if c.ScrubInterval < 0 {
		return bad("scrub-interval", "must not be negative")
	}
	if _, err := c.ScrubRateBytes(); err != nil {
		return err
	}
	if c.AdminSocket != "" && !filepath.IsAbs(c.AdminSocket) {
		return bad("admin-socket", "%q: takes an absolute path", c.AdminSocket)
	}
	if _, err := c.MemoryLimitBytes(); err != nil {
		return err
	}
	_, _, err := c.MinFreeSetting()
	return err
}

package config

import (
	"flag"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Ops are the settings of the server's own upkeep: the admin socket, the
// background scrub and the free-space floor.
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
}

// defaultOps: a weekly scrub at 20 MB/s (a 1 TB cache fits in 14 hours of
// the week), and 5% of the file system kept free, which scales from a
// small VM disk to a large one and leaves room for the builds and the
// Nix store the cache often shares its disk with.
func defaultOps() Ops {
	return Ops{ScrubInterval: Duration(7 * 24 * time.Hour), ScrubRate: "20MB", MinFree: "5%"}
}

func (c *Config) opsFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.AdminSocket, "admin-socket", c.AdminSocket, "unix socket `PATH` gc and verify reach the running server through; empty: STATE-DIR/admin.sock")
	fs.Var(&c.ScrubInterval, "scrub-interval", "spread one pass re-hashing every stored NAR over this long; 0: no scrub")
	fs.StringVar(&c.ScrubRate, "scrub-rate", c.ScrubRate, "most bytes per second the scrub reads (`SIZE`, e.g. 20MB); 0: no scrub")
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
	_, _, err := c.MinFreeSetting()
	return err
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/nginx"
	"github.com/private-nix-cache/private-nix-cache/bench/internal/proc"
)

// contender is one running server under test.
type contender struct {
	key  string // "ours", "nginx", "ref" or "floor": the columns of the report
	name string // for people
	url  string // http://127.0.0.1:PORT
	p    *proc.Proc
}

func (c *contender) stop() {
	if c != nil && c.p != nil {
		c.p.Stop(10 * time.Second)
	}
}

func (c *contender) peakRSS() (float64, error) {
	n, err := c.p.PeakRSS()
	return float64(n) / (1 << 20), err
}

// tempDir makes a fresh folder under the run's temp folder.
func (b *bench) tempDir(pattern string) (string, error) {
	return os.MkdirTemp(b.tmp, pattern)
}

func (b *bench) startNginx(key, name string, site nginx.Site) (*contender, error) {
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	site.Listen = "127.0.0.1:" + strconv.Itoa(port)
	prefix, err := b.tempDir("nginx-")
	if err != nil {
		return nil, err
	}
	p, err := nginx.Start(prefix, site)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &contender{key: key, name: name, url: "http://" + site.Listen, p: p}, nil
}

// startUpstream serves the exported caches as static files: the part
// cache.nixos.org plays.
func (b *bench) startUpstream() (*contender, error) {
	return b.startNginx("ref", "upstream (nginx static)", nginx.Site{Root: b.fx.Upstream()})
}

// startNginxMirror starts nginx proxy_cache in front of up with an empty cache.
func (b *bench) startNginxMirror(up *contender) (*contender, error) {
	return b.startNginx("nginx", "nginx proxy_cache", nginx.Site{Upstream: up.url})
}

// startNginxStatic serves the uncompressed file:// copy of the closure.
func (b *bench) startNginxStatic() (*contender, error) {
	return b.startNginx("nginx", "nginx static (file:// copy, compression=none)", nginx.Site{Root: b.fx.NoneCache()})
}

// startGo runs one of the Go servers, bin with args and "--listen ADDR" on
// a free loopback port, logging into dir, until it answers /nix-cache-info.
func startGo(key, name, bin, dir string, env []string, args ...string) (*contender, error) {
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	p, err := proc.Start(name, filepath.Join(dir, "server.log"), env, bin, append(args, "--listen", listen)...)
	if err != nil {
		return nil, err
	}
	if err := p.WaitHTTP("http://"+listen+"/nix-cache-info", 30*time.Second); err != nil {
		p.Stop(time.Second)
		return nil, err
	}
	return &contender{key: key, name: name, url: "http://" + listen, p: p}, nil
}

// startOurs runs the binary under test with args after the common ones.
func (b *bench) startOurs(name string, args ...string) (*contender, error) {
	dir, err := b.tempDir("ours-")
	if err != nil {
		return nil, err
	}
	all := append([]string{"serve", "--secret-key-file", b.ourSecret, "--log-level", "warn"}, args...)
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "xdg-cache"), "XDG_DATA_HOME="+filepath.Join(dir, "xdg-data"))
	c, err := startGo("ours", name, b.server, dir, env, all...)
	if err != nil {
		return nil, err
	}
	b.oursLogs = append(b.oursLogs, filepath.Join(dir, "server.log"))
	return c, nil
}

// startOursMirror runs private-nix-cache as a mirror of up with an empty cache.
func (b *bench) startOursMirror(up *contender) (*contender, error) {
	dir, err := b.tempDir("ours-cache-")
	if err != nil {
		return nil, err
	}
	return b.startOurs("private-nix-cache mirror",
		"--local-store", "false", "--upstream", up.url, "--trusted-public-key", b.fx.PublicKey,
		"--cache-dir", dir, "--max-size", "50GiB")
}

// startOursLocal runs private-nix-cache over the fixture's chroot store.
func (b *bench) startOursLocal() (*contender, error) {
	return b.startOurs("private-nix-cache local store",
		"--store-root", b.fx.Chroot(), "--local-store", "true", "--upstream", "none")
}

// startFloor runs the net/http floor over the narinfos of dir, or returns
// nil when no floor binary was given.
func (b *bench) startFloor(dir string) (*contender, error) {
	if b.cfg.floor == "" {
		return nil, nil
	}
	logDir, err := b.tempDir("floor-")
	if err != nil {
		return nil, err
	}
	return startGo("floor", "net/http floor", b.cfg.floor, logDir, nil, "--dir", dir)
}

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/netns"
	"github.com/private-nix-cache/private-nix-cache/bench/internal/nginx"
	"github.com/private-nix-cache/private-nix-cache/bench/internal/proc"
)

// Roles in the fleet layout: where each process runs.
const (
	roleUpstream = "upstream"
	roleBastion  = "bastion"
	roleClient   = "client"
)

// The links of the fleet layout: the bastion's uplink to the upstream,
// and its link to the fleet.
var (
	wanLink = netns.Link{Rate: "100mbit", Burst: "256kb", Latency: "50ms"}
	lanLink = netns.Link{Rate: "1gbit", Burst: "1mb", Latency: "20ms"}
)

// fleetPlace puts the fleet's processes in their namespaces, or all on
// loopback when there are none.
type fleetPlace struct {
	net    *netns.Net // nil: loopback
	note   string     // how the network was laid out, for the report
	client *http.Client
	port   int // next port inside the namespaces
	// cpus, when set, pins each role's processes (taskset -c): the
	// client apart from the upstream and the bastion, so that the
	// bastion's decoding does not take the client's CPU, as on other
	// machines.
	cpus map[string]string
}

// splitCPUs pins the client to CPU 0 and the others to the rest, when
// split is asked and there are two CPUs and taskset; the note says so.
func (pl *fleetPlace) splitCPUs(split bool) {
	n := runtime.NumCPU()
	if !split {
		pl.note += fmt.Sprintf("; all %d CPUs shared by client, bastion and upstream", n)
		return
	}
	if _, err := exec.LookPath("taskset"); err != nil || n < 2 {
		pl.note += fmt.Sprintf("; CPUs shared (split asked, but %d CPUs, taskset: %v)", n, err)
		return
	}
	rest := "1-" + strconv.Itoa(n-1)
	if n == 2 {
		rest = "1"
	}
	pl.cpus = map[string]string{roleClient: "0", roleBastion: rest, roleUpstream: rest}
	pl.note += "; client on CPU 0, bastion and upstream on CPU " + rest
}

// newFleetPlace lays out the namespaces when mode allows, and says why
// not otherwise; the caller closes it.
func newFleetPlace(ctx context.Context, mode string, quick bool) *fleetPlace {
	pl := &fleetPlace{port: 8100}
	loopback := func(why string) *fleetPlace {
		pl.note = "loopback (" + why + "): no rate limits, upstream, bastion and client on 127.0.0.1"
		pl.client = newHTTPClient()
		return pl
	}
	switch {
	case mode == "loopback":
		return loopback("--fleet-net loopback")
	case mode == "auto" && quick:
		return loopback("quick run")
	}
	n, err := netns.Setup(ctx, wanLink, lanLink)
	if err != nil {
		return loopback("network namespaces could not be created: " + err.Error())
	}
	pl.net = n
	pl.note = fmt.Sprintf("network namespaces upstream ↔ bastion ↔ client: upstream–bastion %s, bastion–client %s; the client reaches the upstream through the bastion",
		wanLink, lanLink)
	tr := newHTTPClient().Transport.(*http.Transport)
	tr.DialContext = n.DialClient
	pl.client = &http.Client{Timeout: 5 * time.Minute, Transport: tr}
	return pl
}

func (pl *fleetPlace) close() { pl.net.Close() }

// namespace names the namespace of role.
func (pl *fleetPlace) namespace(role string) string {
	switch role {
	case roleUpstream:
		return pl.net.Upstream
	case roleBastion:
		return pl.net.Bastion
	}
	return pl.net.Client
}

// wrap returns the command line that runs name inside role's namespace
// and on its CPUs; nil when neither applies.
func (pl *fleetPlace) wrap(role string) nginx.Exec {
	if pl.net == nil && pl.cpus == nil {
		return nil
	}
	return func(name string, args ...string) (string, []string) {
		if pl.net != nil {
			name, args = netns.Command(pl.namespace(role), name, args...)
		}
		if cpus := pl.cpus[role]; cpus != "" {
			name, args = "taskset", append([]string{"-c", cpus, name}, args...)
		}
		return name, args
	}
}

// listen picks HOST:PORT for a server of role: the upstream on its link
// to the bastion, the bastion's servers on their link to the client.
func (pl *fleetPlace) listen(role string) (string, error) {
	if pl.net == nil {
		port, err := proc.FreePort()
		return "127.0.0.1:" + strconv.Itoa(port), err
	}
	pl.port++
	host := pl.net.BastionIP
	if role == roleUpstream {
		host = pl.net.UpstreamIP
	}
	return host + ":" + strconv.Itoa(pl.port), nil
}

// fleetNginx runs nginx for role: static over a cache folder, or a mirror of an upstream.
func (b *bench) fleetNginx(pl *fleetPlace, role, key, name string, site nginx.Site) (*contender, error) {
	var err error
	if site.Listen, err = pl.listen(role); err != nil {
		return nil, err
	}
	prefix, err := b.tempDir("fleet-nginx-")
	if err != nil {
		return nil, err
	}
	p, err := nginx.StartWith(prefix, site, pl.wrap(role), pl.client)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &contender{key: key, name: name, url: "http://" + site.Listen, p: p}, nil
}

// fleetOurs runs private-nix-cache as a mirror of up in the bastion, with
// an empty cache.
func (b *bench) fleetOurs(pl *fleetPlace, up *contender, upstreamKey string) (*contender, error) {
	dir, err := b.tempDir("fleet-ours-")
	if err != nil {
		return nil, err
	}
	listen, err := pl.listen(roleBastion)
	if err != nil {
		return nil, err
	}
	name, args := b.server, []string{"serve", "--secret-key-file", b.ourSecret, "--log-level", "warn",
		"--local-store", "false", "--upstream", up.url, "--trusted-public-key", upstreamKey,
		"--cache-dir", filepath.Join(dir, "cache"), "--max-size", "50GiB", "--listen", listen}
	if w := pl.wrap(roleBastion); w != nil {
		name, args = w(name, args...)
	}
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "xdg-cache"), "XDG_DATA_HOME="+filepath.Join(dir, "xdg-data"))
	logFile := filepath.Join(dir, "server.log")
	p, err := proc.Start("private-nix-cache mirror (bastion)", logFile, env, name, args...)
	if err != nil {
		return nil, err
	}
	b.oursLogs = append(b.oursLogs, logFile)
	if err := p.WaitHTTPWith(pl.client, "http://"+listen+"/nix-cache-info", 30*time.Second); err != nil {
		p.Stop(time.Second)
		return nil, err
	}
	return &contender{key: "ours", name: "private-nix-cache mirror", url: "http://" + listen, p: p}, nil
}

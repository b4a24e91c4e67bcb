// Package netns lays out a small network on this machine for the fleet
// benchmark: three network namespaces, upstream ↔ bastion ↔ client,
// joined by veth pairs with token-bucket rate limits. The addresses
// (10.231.0.0/29) exist only inside those namespaces, so no traffic
// leaves them. It needs root; the caller falls back to loopback otherwise.
package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/proc"
)

// prefix starts every namespace name this package makes; the process id
// follows, so a later run can tell its own leftovers from a live run's.
const prefix = "pncbench-"

// Link is the shaping of one veth pair, applied on both ends.
type Link struct {
	Rate    string // tc rate, e.g. "100mbit"
	Burst   string // tc burst, e.g. "256kb"
	Latency string // tc tbf queue latency, e.g. "50ms"
}

// String describes the link for the report.
func (l Link) String() string {
	return fmt.Sprintf("tbf rate %s burst %s latency %s", l.Rate, l.Burst, l.Latency)
}

// Net is a running layout. The bastion routes between its two links, so
// the client reaches the upstream through it, as a fleet host behind a
// bastion reaches cache.nixos.org.
type Net struct {
	Upstream, Bastion, Client string // namespace names

	UpstreamIP      string // the upstream, on the link to the bastion
	BastionIP       string // the bastion, on the link to the client
	WAN, LAN        Link   // upstream ↔ bastion, bastion ↔ client
	created         []string
	upstreamBastion string // bastion's address on the upstream link
}

// Setup creates the namespaces, links, addresses, routes and rate limits.
// On error everything it made is removed again.
func Setup(ctx context.Context, wan, lan Link) (*Net, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("not root")
	}
	removeStale(ctx)
	id := strconv.Itoa(os.Getpid())
	n := &Net{
		Upstream: prefix + id + "-up", Bastion: prefix + id + "-bastion", Client: prefix + id + "-client",
		UpstreamIP: "10.231.0.1", upstreamBastion: "10.231.0.2", BastionIP: "10.231.0.5",
		WAN: wan, LAN: lan,
	}
	if err := n.setup(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Net) setup(ctx context.Context) error {
	for _, ns := range []string{n.Upstream, n.Bastion, n.Client} {
		if err := ipCmd(ctx, "netns", "add", ns); err != nil {
			return err
		}
		n.created = append(n.created, ns)
		if err := ipCmd(ctx, "-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	if err := n.link(ctx, n.Upstream, "pnc-up0", n.UpstreamIP, n.Bastion, "pnc-bas0", n.upstreamBastion, n.WAN); err != nil {
		return err
	}
	if err := n.link(ctx, n.Bastion, "pnc-bas1", n.BastionIP, n.Client, "pnc-cli0", "10.231.0.6", n.LAN); err != nil {
		return err
	}
	steps := [][]string{
		{"-n", n.Upstream, "route", "add", "10.231.0.4/30", "via", n.upstreamBastion},
		{"-n", n.Client, "route", "add", "10.231.0.0/30", "via", n.BastionIP},
	}
	for _, s := range steps {
		if err := ipCmd(ctx, s...); err != nil {
			return err
		}
	}
	// /proc/sys/net belongs to the network namespace of whoever opens it.
	if _, err := proc.Output(ctx, nil, "ip", "netns", "exec", n.Bastion, "/bin/sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"); err != nil {
		return fmt.Errorf("forwarding in the bastion: %w", err)
	}
	return nil
}

// link joins two namespaces with a veth pair, addresses both ends in a
// /30 and shapes both directions.
func (n *Net) link(ctx context.Context, nsA, devA, ipA, nsB, devB, ipB string, l Link) error {
	if err := ipCmd(ctx, "link", "add", devA, "netns", nsA, "type", "veth", "peer", "name", devB, "netns", nsB); err != nil {
		return err
	}
	for _, end := range [][3]string{{nsA, devA, ipA}, {nsB, devB, ipB}} {
		ns, dev, ip := end[0], end[1], end[2]
		if err := ipCmd(ctx, "-n", ns, "addr", "add", ip+"/30", "dev", dev); err != nil {
			return err
		}
		if err := ipCmd(ctx, "-n", ns, "link", "set", dev, "up"); err != nil {
			return err
		}
		if _, err := proc.Output(ctx, nil, "ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root",
			"tbf", "rate", l.Rate, "burst", l.Burst, "latency", l.Latency); err != nil {
			return fmt.Errorf("rate limit on %s: %w", dev, err)
		}
	}
	return nil
}

// Close removes the namespaces, and with them their links and anything
// still listening inside. It is safe on nil and to call twice.
func (n *Net) Close() {
	if n == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ns := range n.created {
		_ = ipCmd(ctx, "netns", "del", ns)
	}
	n.created = nil
}

// Command wraps name and args to run inside namespace ns.
func Command(ns, name string, args ...string) (string, []string) {
	return "ip", append([]string{"netns", "exec", ns, name}, args...)
}

// DialClient dials addr from inside the client namespace: the harness
// checks readiness and reads narinfos from where the fleet host stands.
func (n *Net) DialClient(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNamespace(n.Client, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// inNamespace runs f on an OS thread that has joined namespace ns; sockets
// f opens stay in ns. The thread goes back to its own namespace before it
// is handed back: a thread that ended would take the children it started
// with it (they die with their parent thread under Pdeathsig). Only when
// it cannot go back is it left locked, so that it ends with its goroutine.
func inNamespace(ns string, f func() error) error {
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer target.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer home.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("join %s: %w", ns, err)
			return
		}
		err = f()
		if setns(home) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

func setns(f *os.File) error {
	if _, _, errno := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0); errno != 0 {
		return errno
	}
	return nil
}

func ipCmd(ctx context.Context, args ...string) error {
	_, err := proc.Output(ctx, nil, "ip", args...)
	return err
}

// removeStale deletes namespaces left by runs whose process is gone
// (killed before they could clean up).
func removeStale(ctx context.Context) {
	out, err := proc.Output(ctx, nil, "ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		name := fields[0]
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		_ = ipCmd(ctx, "netns", "del", name)
	}
}

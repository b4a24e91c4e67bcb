package netns

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestSetupRoutesClientThroughBastion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wan := Link{Rate: "100mbit", Burst: "256kb", Latency: "50ms"}
	lan := Link{Rate: "1gbit", Burst: "1mb", Latency: "20ms"}
	n, err := Setup(ctx, wan, lan)
	if os.Geteuid() != 0 {
		// Without root the caller falls back to loopback; Setup must say why.
		if err == nil || !strings.Contains(err.Error(), "not root") {
			t.Fatalf("Setup as non-root: got %v, want a 'not root' error", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		n.Close()
		for _, ns := range []string{n.Upstream, n.Bastion, n.Client} {
			if _, err := os.Stat("/run/netns/" + ns); err == nil {
				t.Errorf("namespace %s still there after Close", ns)
			}
		}
	}()

	// A listener in the upstream namespace, reached from the client's.
	var l net.Listener
	if err := inNamespace(n.Upstream, func() (err error) {
		l, err = net.Listen("tcp", n.UpstreamIP+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.WriteString(c, "hello from upstream")
	}()
	c, err := n.DialClient(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial upstream from client: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello from upstream" {
		t.Fatalf("read %q, %v", got, err)
	}
	// The upstream address exists only inside the namespaces.
	if _, err := net.DialTimeout("tcp", l.Addr().String(), 500*time.Millisecond); err == nil {
		t.Errorf("upstream reachable from the host namespace")
	}
}

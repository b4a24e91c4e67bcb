package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
)

// TestSlowReadersUnderFileLimit holds hundreds of NAR responses unread
// against a server limited to 256 open files: they must be dropped after the
// write stall timeout, while a fresh health check and a fresh NAR request
// from another address are answered and no descriptor runs out.
func TestSlowReadersUnderFileLimit(t *testing.T) {
	nixtest.Require(t)
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prlimit is missing")
		}
		t.Skip("prlimit is missing")
	}
	fx := nixtest.Build(t, nixtest.Options{BigSize: 5 << 20})
	store := fx.ChrootStore(t)
	p := startCmd(t, exec.Command(prlimit, "--nofile=256:256", binPath, "serve",
		"--listen", "127.0.0.1:0", "--store-root", store, "--local-store", "true", "--upstream", "none",
		"--write-stall-timeout", "3s", "--max-connections-per-ip", "40"))
	// The uncompressed form: its Content-Length tells a whole answer.
	url := strings.TrimSuffix(narURL(t, p.url(), fx.Big), ".zst")
	path := strings.TrimPrefix(url, p.url())

	// 10 addresses × 40 = 400 connections, over the 64 that 256 files allow.
	var (
		mu      sync.Mutex
		readers []net.Conn
		wg      sync.WaitGroup
	)
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := stalledRequest(fmt.Sprintf("127.0.0.%d", 2+i%10), p.addr, path)
			if err != nil {
				return // refused over a cap: what the caps are for
			}
			mu.Lock()
			readers = append(readers, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range readers {
			c.Close()
		}
	})

	if !answersFrom(t, "127.0.0.100", p.url()+"/nix-cache-info", 1<<10) {
		t.Error("nix-cache-info was not answered while slow readers held the server")
	}
	if !answersFrom(t, "127.0.0.101", url, 6<<20) {
		t.Error("a fresh NAR request failed while slow readers held the server")
	}

	// The held responses stall and must be dropped: the server's open
	// files fall back to what an idle server holds.
	held := openFiles(t, p.cmd.Process.Pid)
	t.Logf("%d connections opened, server has %d files open", len(readers), held)
	waitFor(t, func() bool { return openFiles(t, p.cmd.Process.Pid) < 32 })
	if strings.Contains(p.log(), "too many open files") {
		t.Errorf("the server ran out of descriptors:\n%s", p.log())
	}
}

// openFiles counts the descriptors process pid holds.
func openFiles(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// stalledRequest sends a GET of path from src with a small receive buffer
// and reads nothing.
func stalledRequest(src, addr, path string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// answersFrom GETs url from the loopback address src, trying a few times
// (a connection may be refused while the held ones are not yet stalled
// long enough to be displaced), and reports whether a 200 came back whole
// with at most maxBytes of body.
func answersFrom(t *testing.T, src, url string, maxBytes int64) bool {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext:       (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext,
		DisableKeepAlives: true,
	}}
	for try := range 20 {
		resp, err := client.Get(url)
		if err == nil {
			n, rerr := io.Copy(io.Discard, bufio.NewReader(io.LimitReader(resp.Body, maxBytes)))
			resp.Body.Close()
			if resp.StatusCode == 200 && rerr == nil && n == resp.ContentLength {
				return true
			}
			err = fmt.Errorf("status %d, %d of %d bytes, %v", resp.StatusCode, n, resp.ContentLength, rerr)
		}
		t.Logf("try %d of %s: %v", try, url, err)
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// notifySocket listens where the server's sd_notify messages go, as
// systemd does for a Type=notify unit, and returns them on a channel.
func notifySocket(t *testing.T) (path string, msgs <-chan string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := make(chan string, 64)
	go func() {
		defer close(c)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case c <- string(buf[:n]):
			default: // the test reads what it needs; the rest may go
			}
		}
	}()
	return path, c
}

// waitMessage waits, bounded, for a notify datagram holding want.
func waitMessage(t *testing.T, msgs <-chan string, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("notify socket closed before %q", want)
			}
			if strings.Contains(m, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q from the server within 20s", want)
		}
	}
}

func TestNotifiesReadyAndWatchdog(t *testing.T) {
	path, msgs := notifySocket(t)
	cmd := exec.Command(binPath, "serve", "--listen", "127.0.0.1:0", "--upstream", "none", "--local-store", "false")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+path, "WATCHDOG_USEC=200000")
	p := startCmd(t, cmd)
	waitMessage(t, msgs, "READY=1")
	// READY=1 comes after the listener is up: the server answers now.
	if code := getStatus(t, http.DefaultClient, p.url()+"/nix-cache-info"); code != 200 {
		t.Errorf("nix-cache-info after READY=1: %d", code)
	}
	waitMessage(t, msgs, "WATCHDOG=1")
	p.stop()
	waitMessage(t, msgs, "STOPPING=1")
}

func TestSocketActivation(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close() // the child holds the socket through f
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// LISTEN_PID must be the server's own pid: a shell sets it to its own
	// and execs the server, which keeps that pid and fd 3.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`,
		binPath, "serve", "--listen", "127.0.0.1:1", "--upstream", "none", "--local-store", "false")
	cmd.ExtraFiles = []*os.File{f}
	p := startCmd(t, cmd)
	if want := ln.Addr().String(); p.addr != want {
		t.Errorf("listening on %s, want the passed socket %s", p.addr, want)
	}
	if code := getStatus(t, http.DefaultClient, "http://"+ln.Addr().String()+"/nix-cache-info"); code != 200 {
		t.Errorf("nix-cache-info over the passed socket: %d", code)
	}
	if !strings.Contains(p.log(), "socket activation") {
		t.Errorf("log does not say it took the passed socket:\n%s", p.log())
	}
}

func TestListenUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "pnc.sock")
	// A socket file left by a killed run is replaced.
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	p := start(t, "serve", "--listen", "unix:"+sock, "--upstream", "none", "--local-store", "false")
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode: %v %v, want 0660", fi, err)
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	if code := getStatus(t, client, "http://localhost/nix-cache-info"); code != 200 {
		t.Errorf("nix-cache-info over the unix socket: %d", code)
	}
	if curl, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command(curl, "-sf", "--max-time", "10", "--unix-socket", sock, "http://localhost/nix-cache-info").Output()
		if err != nil || !strings.Contains(string(out), "StoreDir: /nix/store") {
			t.Errorf("curl --unix-socket: %v %q", err, out)
		}
	}
	p.stop()
	if _, err := os.Lstat(sock); err == nil {
		t.Errorf("socket file left after a clean stop")
	}

	notSocket := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notSocket, []byte("keep"), 0o600)
	if code, _, stderr := runCLI("serve", "--listen", "unix:"+notSocket, "--upstream", "none", "--local-store", "false"); code == 0 || !strings.Contains(stderr, "not a socket") {
		t.Errorf("a regular file at the socket path: exit %d, %q", code, stderr)
	}
	if b, _ := os.ReadFile(notSocket); string(b) != "keep" {
		t.Errorf("a regular file at the socket path was replaced")
	}
}

func getStatus(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

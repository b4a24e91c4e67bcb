package s3

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// gateway is a versitygw serving a temporary folder on loopback: a real
// S3 server, each bucket a folder of dir.
type gateway struct {
	dir      string
	endpoint string
	keyFiles [2]string // access, secret
	buckets  atomic.Int64
}

const (
	testAccess = "pnc-test-access"
	testSecret = "pnc-test-secret-0123456789"
)

// versitygwBinary is $VERSITYGW, else versitygw on PATH, else
// /tmp/gobin/versitygw. Without it the test skips, or fails when CI is set.
func versitygwBinary(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("VERSITYGW")}
	if p, err := exec.LookPath("versitygw"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/tmp/gobin/versitygw")
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
			return c
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("versitygw is required when CI is set (set VERSITYGW)")
	}
	t.Skip("versitygw not found (set VERSITYGW)")
	return ""
}

func startGateway(t *testing.T) *gateway {
	t.Helper()
	bin := versitygwBinary(t)
	tmp := t.TempDir()
	g := &gateway{dir: filepath.Join(tmp, "root")}
	if err := os.Mkdir(g.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, secret := range []string{testAccess, testSecret} {
		g.keyFiles[i] = filepath.Join(tmp, fmt.Sprintf("key%d", i))
		if err := os.WriteFile(g.keyFiles[i], []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	g.endpoint = freeLoopbackAddr(t)
	cmd := exec.Command(bin, "--access", testAccess, "--secret", testSecret,
		"--port", g.endpoint, "--quiet", "posix", g.dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitListening(t, g.endpoint)
	return g
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw does not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newBucket creates a fresh bucket and returns the options that reach it.
func (g *gateway) newBucket(t *testing.T) Options {
	t.Helper()
	name := fmt.Sprintf("bucket-%d", g.buckets.Add(1))
	if err := os.Mkdir(filepath.Join(g.dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	return g.options(name)
}

func (g *gateway) options(bucket string) Options {
	return Options{
		Bucket: bucket, Endpoint: g.endpoint, Insecure: true,
		AccessKeyFile: g.keyFiles[0], SecretKeyFile: g.keyFiles[1],
		PartSize: minPartSize,
	}
}

func openStore(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

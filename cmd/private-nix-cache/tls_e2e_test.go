package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/config"
	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/tls/tlstest"
)

// TestACMERFC2136WithNix: the binary gets a certificate from a real ACME CA
// through a real BIND, a Nix client substitutes over HTTPS, and a restart
// with the CA gone serves the stored certificate.
func TestACMERFC2136WithNix(t *testing.T) {
	nixtest.Require(t)
	bind := tlstest.StartBindZone(t, "localhost.")
	ca := tlstest.StartPebble(t, bind.Addr)
	fx := nixtest.Build(t, nixtest.Options{})
	store := fx.ChrootStore(t)
	sec, _, pub := nixtest.Key(t, "tls-test-1")
	state := t.TempDir()
	args := []string{"serve", "--listen", "127.0.0.1:0", "--store-root", store, "--local-store", "true",
		"--upstream", "none", "--secret-key-file", sec,
		"--tls-domain", "localhost", "--acme-email", "ops@example.org",
		"--acme-ca", ca.DirectoryURL, "--acme-ca-root", ca.DirectoryRootFile,
		"--dns-provider", "rfc2136", "--rfc2136-server", bind.Addr,
		"--rfc2136-key-name", bind.KeyName, "--rfc2136-key-alg", bind.KeyAlg,
		"--rfc2136-key-file", bind.KeyFile, "--dns-resolver", bind.Addr, "--state-dir", state}

	p := start(t, args...)
	base := "https://localhost:" + port(p.addr)
	client := trusting(t, ca.RootFile)
	checkCacheInfo(t, client, base)

	env := append(nixtest.Env(t), "NIX_SSL_CERT_FILE="+ca.RootFile)
	nixtest.Run(t, env, "nix", "copy", "--from", base, "--to", t.TempDir(),
		"--option", "trusted-public-keys", pub, fx.Root)

	p.stop()
	ca.Stop()
	p = start(t, args...)
	checkCacheInfo(t, client, "https://localhost:"+port(p.addr))
}

// TestACMECloudflare runs the server in-process, so the real Cloudflare
// client can be pointed at a fake of its API.
func TestACMECloudflare(t *testing.T) {
	dns := tlstest.StartDNS(t, "localhost.")
	cf := tlstest.StartCloudflare(t, dns)
	ca := tlstest.StartPebble(t, dns.Addr)
	cloudflareClient = cf.Client
	t.Cleanup(func() { cloudflareClient = nil })

	addr := freeAddr(t)
	cfg, err := config.Load(newFlagSet("serve", "", io.Discard), []string{
		"--listen", addr, "--local-store", "false", "--upstream", "none",
		"--tls-domain", "localhost", "--acme-email", "ops@example.org",
		"--acme-ca", ca.DirectoryURL, "--acme-ca-root", ca.DirectoryRootFile,
		"--dns-provider", "cloudflare", "--dns-api-token-file", cf.TokenFile,
		"--dns-resolver", dns.Addr, "--state-dir", t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := build(ctx, cfg, newLogger("info", os.Stderr))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.close()
	})
	waitListening(t, addr)
	checkCacheInfo(t, trusting(t, ca.RootFile), "https://localhost:"+port(addr))
	if cf.Records() != 0 {
		t.Errorf("%d challenge records left at Cloudflare", cf.Records())
	}
}

func TestTLSStaticFilesAndRedirect(t *testing.T) {
	bind := tlstest.StartBindZone(t, "localhost.")
	ca := tlstest.StartPebble(t, bind.Addr)
	// Obtain a certificate once, then serve it as static files.
	state := t.TempDir()
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--local-store", "false", "--upstream", "none",
		"--tls-domain", "localhost", "--acme-email", "ops@example.org",
		"--acme-ca", ca.DirectoryURL, "--acme-ca-root", ca.DirectoryRootFile,
		"--dns-provider", "rfc2136", "--rfc2136-server", bind.Addr,
		"--rfc2136-key-name", bind.KeyName, "--rfc2136-key-file", bind.KeyFile,
		"--dns-resolver", bind.Addr, "--state-dir", state)
	p.stop()
	certFile, keyFile := findCert(t, state)

	redirect := freeAddr(t)
	p = start(t, "serve", "--listen", "127.0.0.1:0", "--local-store", "false", "--upstream", "none",
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--http-redirect-listen", redirect)
	checkCacheInfo(t, trusting(t, ca.RootFile), "https://localhost:"+port(p.addr))

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get("http://" + redirect + "/abc.narinfo")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(resp.Header.Get("Location"), "https://") {
		t.Errorf("redirect: %s %q", resp.Status, resp.Header.Get("Location"))
	}
	resp, err = noFollow.Get("http://" + redirect + "/nix-cache-info")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("nix-cache-info over plain HTTP: %s", resp.Status)
	}
}

// findCert returns the certificate and key certmagic stored in state.
func findCert(t *testing.T, state string) (cert, key string) {
	t.Helper()
	filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case strings.HasSuffix(p, ".crt"):
			cert = p
		case strings.HasSuffix(p, ".key") && !strings.Contains(p, "users"):
			key = p
		}
		return nil
	})
	if cert == "" || key == "" {
		t.Fatalf("no certificate stored under %s", state)
	}
	return cert, key
}

func checkCacheInfo(t *testing.T, c *http.Client, base string) {
	t.Helper()
	resp, err := c.Get(base + "/nix-cache-info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "StoreDir: /nix/store") {
		t.Fatalf("GET %s/nix-cache-info: %s %q", base, resp.Status, b)
	}
}

func trusting(t *testing.T, rootFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s", addr)
}

// Package tlstest stands up, on loopback and inside the test process, what
// ACME DNS-01 needs: an ACME CA (pebble), an authoritative DNS server (real
// BIND 9 for RFC 2136, or a small miekg/dns server) and a fake Cloudflare
// API that writes into that DNS server.
//
// A typical end-to-end test with RFC 2136:
//
//	b := tlstest.StartBind(t)            // skips without named (fails under CI)
//	p := tlstest.StartPebble(t, b.Addr)
//	cfg := tls.Config{
//		Domains: []string{b.Name("cache")}, ACMEEmail: "ops@example.test",
//		ACMECA: p.DirectoryURL, ACMECARoot: p.DirectoryRootFile,
//		DNSProvider: "rfc2136", RFC2136Server: b.Addr, RFC2136KeyName: b.KeyName,
//		RFC2136KeyFile: b.KeyFile, DNSResolver: b.Addr, StateDir: t.TempDir(),
//	}
//
// Clients of the server under test trust p.RootFile (or p.Roots) to verify
// the issued certificate; for the Nix client set NIX_SSL_CERT_FILE (or the
// ssl-cert-file option) to p.RootFile and map the name to 127.0.0.1, or use
// a URL with the name and a resolver override. Every helper stops what it
// started at the end of the test.
//
// With Cloudflare instead of RFC 2136:
//
//	d := tlstest.StartDNS(t, "cf.test.")
//	cf := tlstest.StartCloudflare(t, d) // cf.FailNext(n) injects API errors
//	p := tlstest.StartPebble(t, d.Addr)
//	// DNSProvider "cloudflare", DNSAPITokenFile cf.TokenFile,
//	// HTTPClient cf.Client, DNSResolver d.Addr
package tlstest

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// Pebble is an ACME CA served over HTTPS on 127.0.0.1.
type Pebble struct {
	// DirectoryURL is the ACME directory (the --acme-ca setting).
	DirectoryURL string
	// DirectoryRootFile is a PEM file with the certificate of the directory's
	// HTTPS server (the --acme-ca-root setting).
	DirectoryRootFile string
	// RootFile is a PEM file with the root that issued certificates chain
	// to; clients of the server under test trust it.
	RootFile string
	// Roots holds the same root as RootFile.
	Roots *x509.CertPool

	srv      *httptest.Server
	stopOnce sync.Once
}

// pebbleEnv makes pebble validate at once (no random sleep) and accept every
// good nonce, so tests are quick and repeatable. pebble reads these when its
// parts are created.
var pebbleEnv = map[string]string{
	"PEBBLE_VA_NOSLEEP":      "1",
	"PEBBLE_WFE_NONCEREJECT": "0",
}

// StartPebble starts a CA whose validation authority resolves DNS-01
// challenges at dnsAddr (HOST:PORT, queried over TCP). It stops at the end of
// the test. Set PEBBLE_VERBOSE=1 to see pebble's log.
func StartPebble(t testing.TB, dnsAddr string) *Pebble {
	t.Helper()
	for k, v := range pebbleEnv {
		if err := os.Setenv(k, v); err != nil { // os.Setenv, not t.Setenv: callers may be parallel
			t.Fatal(err)
		}
	}
	out := io.Discard
	if os.Getenv("PEBBLE_VERBOSE") != "" {
		out = os.Stderr
	}
	logger := log.New(out, "pebble ", log.LstdFlags)

	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "test profile"},
	})
	validator := va.New(logger, 0, 0, false, dnsAddr, store)
	frontend := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	p := &Pebble{srv: httptest.NewTLSServer(frontend.Handler())}
	t.Cleanup(p.Stop)
	p.DirectoryURL = p.srv.URL + wfe.DirectoryPath

	dir := t.TempDir()
	p.DirectoryRootFile = filepath.Join(dir, "acme-directory-root.pem")
	writePEM(t, p.DirectoryRootFile, p.srv.Certificate().Raw)
	root := authority.GetRootCert(0)
	p.RootFile = filepath.Join(dir, "issuing-root.pem")
	writePEM(t, p.RootFile, root.DER)
	p.Roots = x509.NewCertPool()
	p.Roots.AddCert(root.Cert)
	return p
}

// Stop takes the CA off the network, as if it were down. Safe to call twice.
func (p *Pebble) Stop() {
	p.stopOnce.Do(func() {
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
}

func writePEM(t testing.TB, path string, der []byte) {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

package tls_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	stdtls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pnctls "github.com/private-nix-cache/private-nix-cache/tls"
)

// testCA issues certificates for the static-mode tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "static test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a leaf for host to certFile and keyFile by writing temp files
// and renaming them, as deployment tools do.
func (ca *testCA) issue(t *testing.T, host string, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Duration(serial) * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	replaceFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestStaticCertificateReload(t *testing.T) {
	const host = "cache.static.test"
	ca := newTestCA(t)
	certFile, keyFile := ca.issueFiles(t, host, 10)

	logger, logs := newLogger()
	reg := prometheus.NewRegistry()
	m, err := pnctls.New(context.Background(), pnctls.Config{CertFile: certFile, KeyFile: keyFile}, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := mustFetch(t, m, ca.pool, host).SerialNumber.Int64(); got != 10 {
		t.Fatalf("serial %d, want 10", got)
	}

	// New files are picked up within about a second.
	ca.issue(t, host, 11, certFile, keyFile)
	waitFor(t, 5*time.Second, "the replaced certificate", func() bool {
		return mustFetch(t, m, ca.pool, host).SerialNumber.Int64() == 11
	})
	leaf := mustFetch(t, m, ca.pool, host)
	if got, want := metricValue(t, reg, notAfterMetric, "name", host), float64(leaf.NotAfter.Unix()); got != want {
		t.Errorf("not-after gauge = %v, want %v", got, want)
	}

	// Broken files (a key that does not match) keep the old certificate.
	other := filepath.Join(t.TempDir(), "other")
	ca.issue(t, host, 12, other+".cert", other+".key")
	b, _ := os.ReadFile(other + ".key")
	replaceFile(t, keyFile, b)
	waitFor(t, 5*time.Second, "the reload failure", func() bool {
		mustFetch(t, m, ca.pool, host)
		return metricValue(t, reg, "private_nix_cache_tls_reload_failures_total") == 1
	})
	if got := mustFetch(t, m, ca.pool, host).SerialNumber.Int64(); got != 11 {
		t.Errorf("serial %d after a bad reload, want the old 11", got)
	}
	if !strings.Contains(logs.String(), "does not load") {
		t.Errorf("bad reload not logged:\n%s", logs)
	}

	// Fixing the files recovers.
	b, _ = os.ReadFile(other + ".cert")
	replaceFile(t, certFile, b)
	waitFor(t, 5*time.Second, "the fixed certificate", func() bool {
		return mustFetch(t, m, ca.pool, host).SerialNumber.Int64() == 12
	})
}

func TestStaticCertificateBadAtStart(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, []byte("not a certificate"), 0o600)
	os.WriteFile(keyFile, []byte("not a key"), 0o600)
	logger, _ := newLogger()
	_, err := pnctls.New(context.Background(), pnctls.Config{CertFile: certFile, KeyFile: keyFile}, logger, nil)
	if err == nil || !strings.Contains(err.Error(), certFile) {
		t.Errorf("err = %v, want one naming %s", err, certFile)
	}
}

func TestTLSConfigVersionsAndProtocols(t *testing.T) {
	const host = "cache.static.test"
	ca := newTestCA(t)
	certFile, keyFile := ca.issueFiles(t, host, 10)
	logger, _ := newLogger()
	m, err := pnctls.New(context.Background(), pnctls.Config{CertFile: certFile, KeyFile: keyFile}, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := m.TLSConfig()
	if c.MinVersion != stdtls.VersionTLS12 {
		t.Errorf("MinVersion = %x, want TLS 1.2", c.MinVersion)
	}
	if got := strings.Join(c.NextProtos, ","); got != "h2,http/1.1" {
		t.Errorf("NextProtos = %s, want h2,http/1.1", got)
	}
	cert, err := c.GetCertificate(&stdtls.ClientHelloInfo{ServerName: host})
	if err != nil || cert.Leaf.DNSNames[0] != host {
		t.Errorf("GetCertificate = %v, %v", cert, err)
	}
}

// issueFiles writes a certificate for host (serial) and its key to a
// fresh folder and returns the two file names.
func (ca *testCA) issueFiles(t *testing.T, host string, serial int64) (certFile, keyFile string) {
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.issue(t, host, serial, certFile, keyFile)
	return certFile, keyFile
}

package tls_test

import (
	"bytes"
	"context"
	stdtls "crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pnctls "github.com/private-nix-cache/private-nix-cache/tls"
)

const cacheInfo = "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n"

// logBuffer collects log output safely from any goroutine, also after the
// test ends (certmagic's goroutines may still log then).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// served is what a client saw over HTTPS.
type served struct {
	leaf  *x509.Certificate
	proto string
	body  string
}

// fetchOverHTTPS serves /nix-cache-info with m's TLS configuration on a
// loopback listener and fetches it as https://host/nix-cache-info, trusting
// only roots; Go's client checks that the certificate is valid for host.
func fetchOverHTTPS(t *testing.T, m *pnctls.Manager, roots *x509.CertPool, host string) (served, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/nix-cache-info", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, cacheInfo)
	})
	srv := &http.Server{Handler: mux, TLSConfig: m.TLSConfig(), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: nil}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	defer func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()

	_, port, _ := net.SplitHostPort(ln.Addr().String())
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
			},
			TLSClientConfig:   &stdtls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
			DisableKeepAlives: true,
		},
	}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + net.JoinHostPort(host, port) + "/nix-cache-info")
	if err != nil {
		return served{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return served{}, err
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return served{leaf: resp.TLS.PeerCertificates[0], proto: resp.Proto, body: string(body)}, nil
}

// mustFetch is fetchOverHTTPS that fails the test on a client error and
// checks the answer.
func mustFetch(t *testing.T, m *pnctls.Manager, roots *x509.CertPool, host string) *x509.Certificate {
	t.Helper()
	got, err := fetchOverHTTPS(t, m, roots, host)
	if err != nil {
		t.Fatalf("https get %s: %v", host, err)
	}
	if got.body != cacheInfo {
		t.Errorf("body = %q, want %q", got.body, cacheInfo)
	}
	if got.proto != "HTTP/2.0" {
		t.Errorf("proto = %s, want HTTP/2.0", got.proto)
	}
	return got.leaf
}

// metricValue returns the value of a counter or gauge (the sum over labels
// when labels is empty, else the series whose labels include all given).
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

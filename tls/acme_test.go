package tls_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	pnctls "github.com/private-nix-cache/private-nix-cache/tls"
	"github.com/private-nix-cache/private-nix-cache/tls/tlstest"
)

const (
	failuresMetric = "private_nix_cache_tls_renewal_failures_total"
	notAfterMetric = "private_nix_cache_tls_certificate_not_after_timestamp_seconds"
)

func TestACMEWithRFC2136AndBind(t *testing.T) {
	b := tlstest.StartBind(t)
	p := tlstest.StartPebble(t, b.Addr)
	host := b.Name("cache")
	cfg := rfc2136Config(t, b, p, host)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logger, logs := newLogger()
	reg := prometheus.NewRegistry()

	start := time.Now()
	m, err := pnctls.New(ctx, cfg, logger, reg)
	if err != nil {
		t.Fatalf("New: %v\nlog:\n%s", err, logs)
	}
	t.Logf("obtained a certificate through BIND in %s", time.Since(start).Round(time.Millisecond))
	first := mustFetch(t, m, p.Roots, host)
	if got := first.DNSNames; len(got) != 1 || got[0] != host {
		t.Errorf("certificate names = %v, want [%s]", got, host)
	}
	if got, want := metricValue(t, reg, notAfterMetric, "name", host), float64(first.NotAfter.Unix()); got != want {
		t.Errorf("not-after gauge = %v, want %v", got, want)
	}
	if txt := queryTXT(t, b.Addr, "_acme-challenge."+host+"."); len(txt) != 0 {
		t.Errorf("challenge record left in the zone: %v", txt)
	}
	m.Close()

	// Restart with the CA down: the stored certificate serves.
	p.Stop()
	start = time.Now()
	m2, err := pnctls.New(ctx, cfg, logger, reg)
	if err != nil {
		t.Fatalf("New after restart with the CA down: %v", err)
	}
	defer m2.Close()
	t.Logf("restart with the CA down took %s", time.Since(start).Round(time.Millisecond))
	again := mustFetch(t, m2, p.Roots, host)
	if again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("after restart serial %v, want the stored %v", again.SerialNumber, first.SerialNumber)
	}
}

// TestACMELocalhost gets a certificate for "localhost" (zone localhost. in
// BIND), the name an end-to-end client can reach without resolver setup.
func TestACMELocalhost(t *testing.T) {
	b := tlstest.StartBindZone(t, "localhost.")
	p := tlstest.StartPebble(t, b.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logger, logs := newLogger()
	m, err := pnctls.New(ctx, rfc2136Config(t, b, p, "localhost"), logger, nil)
	if err != nil {
		t.Fatalf("New: %v\nlog:\n%s", err, logs)
	}
	defer m.Close()
	if got := mustFetch(t, m, p.Roots, "localhost").DNSNames; len(got) != 1 || got[0] != "localhost" {
		t.Errorf("certificate names = %v, want [localhost]", got)
	}
}

func rfc2136Config(t *testing.T, b *tlstest.Bind, p *tlstest.Pebble, host string) pnctls.Config {
	t.Helper()
	return pnctls.Config{
		Domains:        []string{host},
		ACMEEmail:      "ops@example.test",
		ACMECA:         p.DirectoryURL,
		ACMECARoot:     p.DirectoryRootFile,
		DNSProvider:    "rfc2136",
		RFC2136Server:  b.Addr,
		RFC2136KeyName: b.KeyName,
		RFC2136KeyFile: b.KeyFile,
		DNSResolver:    b.Addr,
		StateDir:       t.TempDir(),
	}
}

func TestACMEWithCloudflare(t *testing.T) {
	d := tlstest.StartDNS(t, "cf.test.")
	cf := tlstest.StartCloudflare(t, d)
	p := tlstest.StartPebble(t, d.Addr)
	// certmagic keeps renewal back-off per name in package state: a fresh
	// name per run keeps -count=N runs independent.
	host := d.Name(fmt.Sprintf("cache-%d", time.Now().UnixNano()))
	cfg := pnctls.Config{
		Domains:         []string{host},
		ACMEEmail:       "ops@cf.test",
		ACMECA:          p.DirectoryURL,
		ACMECARoot:      p.DirectoryRootFile,
		DNSProvider:     "cloudflare",
		DNSAPITokenFile: cf.TokenFile,
		DNSResolver:     d.Addr,
		StateDir:        t.TempDir(),
		HTTPClient:      cf.Client,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logger, logs := newLogger()
	reg := prometheus.NewRegistry()

	// A failing API call is a clear error, counted, and leaves nothing behind.
	cf.FailNext(1)
	if _, err := pnctls.New(ctx, cfg, logger, reg); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("New with a failing Cloudflare API: err = %v, want one mentioning the API's error", err)
	} else {
		t.Logf("error: %v", err)
	}
	if got := metricValue(t, reg, failuresMetric); got != 1 {
		t.Errorf("%s = %v after one failure, want 1", failuresMetric, got)
	}

	m, err := pnctls.New(ctx, cfg, logger, reg)
	if err != nil {
		t.Fatalf("New: %v\nlog:\n%s", err, logs)
	}
	first := mustFetch(t, m, p.Roots, host)
	m.Close()
	if n := cf.Records(); n != 0 {
		t.Errorf("%d records left at Cloudflare after issuance", n)
	}
	if txt := d.TXT("_acme-challenge." + host); len(txt) != 0 {
		t.Errorf("challenge TXT still served: %v", txt)
	}
	for _, want := range []string{"GET /zones?name=", "POST /zones/zone-1/dns_records?", "GET /zones/zone-1/dns_records?", "DELETE /zones/zone-1/dns_records/rec-"} {
		if !hasCallPrefix(cf.Calls(), want) {
			t.Errorf("no API call %q in %q", want, cf.Calls())
		}
	}
	if strings.Contains(logs.String(), cf.Token) {
		t.Error("the API token appears in the log")
	}

	// Restart with the CA down and the certificate due for renewal: the
	// renewal fails, is counted and logged, and the stored certificate
	// keeps serving while the background retries fail too.
	p.Stop()
	before := metricValue(t, reg, failuresMetric)
	m2, err := pnctls.New(ctx, pnctls.WithRenewal(cfg, 1, 200*time.Millisecond), logger, reg)
	if err != nil {
		t.Fatalf("New with renewal due and the CA down: %v", err)
	}
	defer m2.Close()
	again := mustFetch(t, m2, p.Roots, host)
	if again.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("serial %v, want the stored %v", again.SerialNumber, first.SerialNumber)
	}
	waitFor(t, 15*time.Second, "a background renewal failure", func() bool {
		return metricValue(t, reg, failuresMetric) >= before+2
	})
	if !strings.Contains(logs.String(), "tls certificate could not be obtained") {
		t.Errorf("renewal failure not logged; log:\n%s", logs)
	}
	if still := mustFetch(t, m2, p.Roots, host); still.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Errorf("serial changed to %v after failed renewals", still.SerialNumber)
	}
}

func hasCallPrefix(calls []string, prefix string) bool {
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

func queryTXT(t *testing.T, server, name string) []string {
	t.Helper()
	msg := new(dns.Msg)
	msg.SetQuestion(name, dns.TypeTXT)
	in, _, err := (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(msg, server)
	if err != nil {
		t.Fatalf("query %s TXT: %v", name, err)
	}
	var out []string
	for _, rr := range in.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out
}

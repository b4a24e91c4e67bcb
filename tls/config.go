package tls

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Config selects how the server gets its TLS certificate: ACME DNS-01 for
// Domains, or a static certificate from CertFile and KeyFile. The zero value
// means plain HTTP (Enabled reports false). Field names follow the settings of
// `private-nix-cache serve`; Validate names the setting in its messages.
type Config struct {
	// Domains are the host names to get a certificate for through ACME
	// (--tls-domain). Empty: no ACME.
	Domains []string
	// ACMEEmail is the ACME account contact (--acme-email); required with
	// Domains.
	ACMEEmail string
	// ACMECA is the ACME directory URL (--acme-ca). Empty: Let's Encrypt
	// production.
	ACMECA string
	// ACMECARoot is a PEM file of roots trusted for the ACME directory's HTTPS
	// (--acme-ca-root). Empty: the system roots.
	ACMECARoot string
	// DNSProvider is "cloudflare" or "rfc2136" (--dns-provider); required
	// with Domains.
	DNSProvider string
	// DNSAPITokenFile holds the Cloudflare API token (--dns-api-token-file).
	// It must not be readable by others.
	DNSAPITokenFile string
	// RFC2136Server is the HOST:PORT that accepts dynamic updates
	// (--rfc2136-server).
	RFC2136Server string
	// RFC2136KeyName is the TSIG key name (--rfc2136-key-name).
	RFC2136KeyName string
	// RFC2136KeyAlg is the TSIG algorithm (--rfc2136-key-alg). Empty:
	// hmac-sha256.
	RFC2136KeyAlg string
	// RFC2136KeyFile holds the base64 TSIG secret (--rfc2136-key-file). It
	// must not be readable by others.
	RFC2136KeyFile string
	// DNSResolver is the HOST[:PORT] asked while waiting for the challenge
	// record to appear (--dns-resolver). Empty: the system resolvers and the
	// zone's authoritative servers.
	DNSResolver string
	// CertFile and KeyFile are a static certificate chain and its key, both
	// PEM (--tls-cert-file, --tls-key-file). They are reloaded when they
	// change.
	CertFile, KeyFile string
	// StateDir holds the ACME account and certificates (--state-dir);
	// required with Domains.
	StateDir string
	// HTTPClient, when non-nil, is used for the Cloudflare API instead of
	// http.DefaultClient. Only tests set it, to reach a local fake API.
	HTTPClient *http.Client

	// Set only by tests: renewal ratio (remaining:lifetime) and how often
	// the background maintenance checks for renewal. Zero: certmagic's
	// defaults.
	renewalWindowRatio float64
	renewCheckInterval time.Duration
}

const (
	providerCloudflare = "cloudflare"
	providerRFC2136    = "rfc2136"
	defaultKeyAlg      = "hmac-sha256"
)

// tsigAlgorithms are the TSIG algorithms miekg/dns can sign with.
var tsigAlgorithms = map[string]bool{
	"hmac-sha1": true, "hmac-sha224": true, "hmac-sha256": true,
	"hmac-sha384": true, "hmac-sha512": true,
}

// Enabled reports whether TLS is configured at all (ACME or static).
func (c Config) Enabled() bool {
	return len(c.Domains) > 0 || c.CertFile != "" || c.KeyFile != ""
}

func (c Config) acme() bool { return len(c.Domains) > 0 }

// Validate checks the settings and the secret files they name. Each problem
// is one line naming the setting; all problems are returned joined.
func (c Config) Validate() error {
	var p problems
	switch {
	case c.CertFile != "" && c.KeyFile == "":
		p.add("tls-key-file", "required with --tls-cert-file")
	case c.KeyFile != "" && c.CertFile == "":
		p.add("tls-cert-file", "required with --tls-key-file")
	}
	static := c.CertFile != "" || c.KeyFile != ""
	if static && c.acme() {
		p.add("tls-cert-file", "cannot be combined with --tls-domain (choose a static certificate or ACME)")
	}
	if c.acme() {
		c.validateACME(&p)
	} else {
		c.validateNoACME(&p)
	}
	return errors.Join(p...)
}

// validateNoACME refuses ACME settings given without --tls-domain; one
// message is enough.
func (c Config) validateNoACME(p *problems) {
	for _, s := range []struct{ flag, value string }{
		{"acme-email", c.ACMEEmail}, {"acme-ca-root", c.ACMECARoot},
		{"dns-provider", c.DNSProvider}, {"dns-api-token-file", c.DNSAPITokenFile},
		{"rfc2136-server", c.RFC2136Server}, {"rfc2136-key-name", c.RFC2136KeyName},
		{"rfc2136-key-file", c.RFC2136KeyFile}, {"dns-resolver", c.DNSResolver},
	} {
		if s.value != "" {
			p.add("tls-domain", "required when --%s is set", s.flag)
			return
		}
	}
}

func (c Config) validateACME(p *problems) {
	for _, d := range c.Domains {
		if !validDomain(d) {
			p.add("tls-domain", "%q is not a host name", d)
		}
	}
	p.require("--tls-domain",
		setting{flag: "acme-email", value: c.ACMEEmail},
		setting{flag: "state-dir", value: c.StateDir})
	p.checkIfSet(
		setting{"acme-ca", c.ACMECA, checkHTTPSURL},
		setting{"acme-ca-root", c.ACMECARoot, checkRoots},
		setting{"dns-resolver", c.DNSResolver, checkResolver})

	switch c.DNSProvider {
	case "":
		p.add("dns-provider", "required with --tls-domain (cloudflare or rfc2136)")
	case providerCloudflare:
		p.require("--dns-provider=cloudflare",
			setting{"dns-api-token-file", c.DNSAPITokenFile, checkSecret})
	case providerRFC2136:
		p.require("--dns-provider=rfc2136",
			setting{"rfc2136-server", c.RFC2136Server, checkHostPort},
			setting{flag: "rfc2136-key-name", value: c.RFC2136KeyName})
		if alg := c.keyAlg(); !tsigAlgorithms[alg] {
			p.add("rfc2136-key-alg", "unknown algorithm %q (want hmac-sha256, hmac-sha512, ...)", alg)
		}
		p.require("--dns-provider=rfc2136",
			setting{"rfc2136-key-file", c.RFC2136KeyFile, checkTSIGSecret})
	default:
		p.add("dns-provider", "unknown provider %q (want cloudflare or rfc2136)", c.DNSProvider)
	}
}

// problems collects Validate's messages, each naming its setting.
type problems []error

func (p *problems) add(flag, format string, args ...any) {
	*p = append(*p, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
}

// A setting is one flag's value and the check its value must pass (nil: any
// value).
type setting struct {
	flag, value string
	check       func(string) error
}

// require reports each empty setting as required with the setting named by
// with, and checks the others.
func (p *problems) require(with string, settings ...setting) {
	for _, s := range settings {
		if s.value == "" {
			p.add(s.flag, "required with %s", with)
			continue
		}
		p.checkIfSet(s)
	}
}

// checkIfSet checks each setting that has a value; empty ones are fine.
func (p *problems) checkIfSet(settings ...setting) {
	for _, s := range settings {
		if s.value == "" || s.check == nil {
			continue
		}
		if err := s.check(s.value); err != nil {
			p.add(s.flag, "%v", err)
		}
	}
}

func checkHTTPSURL(s string) error {
	if u, err := url.Parse(s); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an https:// URL", s)
	}
	return nil
}

func checkRoots(path string) error      { _, err := loadRoots(path); return err }
func checkResolver(s string) error      { _, err := resolverAddr(s); return err }
func checkSecret(path string) error     { _, err := readSecret(path); return err }
func checkTSIGSecret(path string) error { _, err := readTSIGSecret(path); return err }

func checkHostPort(s string) error {
	if _, _, err := net.SplitHostPort(s); err != nil {
		return fmt.Errorf("%q is not HOST:PORT", s)
	}
	return nil
}

func (c Config) keyAlg() string {
	if c.RFC2136KeyAlg == "" {
		return defaultKeyAlg
	}
	return strings.ToLower(c.RFC2136KeyAlg)
}

func validDomain(d string) bool {
	if d == "" || strings.ContainsAny(d, "/: \t@") {
		return false
	}
	_, ok := dns.IsDomainName(d)
	return ok
}

// readSecret reads a secret file that must be non-empty and not readable by
// others. The returned text is trimmed; it must never be logged.
func readSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return "", fmt.Errorf("%s is readable by others (chmod 600)", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// readTSIGSecret reads the base64 TSIG secret. It accepts the bare secret or
// the `secret "...";` line of a tsig-keygen key file.
func readTSIGSecret(path string) (string, error) {
	s, err := readSecret(path)
	if err != nil {
		return "", err
	}
	if i := strings.Index(s, "secret"); i >= 0 && strings.Contains(s, "{") {
		rest := s[i+len("secret"):]
		if a := strings.IndexByte(rest, '"'); a >= 0 {
			if b := strings.IndexByte(rest[a+1:], '"'); b >= 0 {
				s = rest[a+1 : a+1+b]
			}
		}
	}
	if _, err := base64.StdEncoding.DecodeString(s); err != nil {
		return "", fmt.Errorf("%s does not hold a base64 TSIG secret", path)
	}
	return s, nil
}

func loadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// resolverAddr adds the DNS port when s has none.
func resolverAddr(s string) (string, error) {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s, nil
	}
	host := strings.Trim(s, "[]")
	if net.ParseIP(host) == nil && !validDomain(host) {
		return "", fmt.Errorf("%q is not HOST or HOST:PORT", s)
	}
	return net.JoinHostPort(host, "53"), nil
}

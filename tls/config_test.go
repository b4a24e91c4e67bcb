package tls_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pnctls "github.com/private-nix-cache/private-nix-cache/tls"
)

func writeTestFile(t *testing.T, dir, name, content string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // umask may have cut bits
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	token := writeTestFile(t, dir, "token", "secret-token\n", 0o600)
	openToken := writeTestFile(t, dir, "open-token", "secret-token\n", 0o644)
	emptyToken := writeTestFile(t, dir, "empty-token", " \n", 0o600)
	tsig := writeTestFile(t, dir, "tsig", "E1/5VVaAyr8P+4Bc2bgMbSwBy6D1btFrmsfZOm0yJGI=\n", 0o600)
	tsigConf := writeTestFile(t, dir, "tsig.conf", "key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret \"E1/5VVaAyr8P+4Bc2bgMbSwBy6D1btFrmsfZOm0yJGI=\";\n};\n", 0o600)
	badTSIG := writeTestFile(t, dir, "bad-tsig", "not base64 !!\n", 0o600)
	notPEM := writeTestFile(t, dir, "root.pem", "nothing here", 0o644)

	cloudflare := pnctls.Config{
		Domains: []string{"cache.example.org"}, ACMEEmail: "ops@example.org", StateDir: dir,
		DNSProvider: "cloudflare", DNSAPITokenFile: token,
	}
	rfc2136 := pnctls.Config{
		Domains: []string{"cache.example.org"}, ACMEEmail: "ops@example.org", StateDir: dir,
		DNSProvider: "rfc2136", RFC2136Server: "127.0.0.1:53", RFC2136KeyName: "k", RFC2136KeyFile: tsig,
	}
	with := func(c pnctls.Config, f func(*pnctls.Config)) pnctls.Config { f(&c); return c }

	tests := []struct {
		name string
		cfg  pnctls.Config
		want string // "" means valid
	}{
		{"off", pnctls.Config{}, ""},
		{"static", pnctls.Config{CertFile: "/c", KeyFile: "/k"}, ""},
		{"cloudflare", cloudflare, ""},
		{"rfc2136", rfc2136, ""},
		{"rfc2136 key file from tsig-keygen", with(rfc2136, func(c *pnctls.Config) { c.RFC2136KeyFile = tsigConf }), ""},
		{"resolver without port", with(rfc2136, func(c *pnctls.Config) { c.DNSResolver = "127.0.0.1" }), ""},
		{"no provider", with(cloudflare, func(c *pnctls.Config) { c.DNSProvider = "" }),
			"--dns-provider: required with --tls-domain (cloudflare or rfc2136)"},
		{"unknown provider", with(cloudflare, func(c *pnctls.Config) { c.DNSProvider = "route53" }),
			`--dns-provider: unknown provider "route53" (want cloudflare or rfc2136)`},
		{"cloudflare without token", with(cloudflare, func(c *pnctls.Config) { c.DNSAPITokenFile = "" }),
			"--dns-api-token-file: required with --dns-provider=cloudflare"},
		{"token readable by others", with(cloudflare, func(c *pnctls.Config) { c.DNSAPITokenFile = openToken }),
			"--dns-api-token-file: " + openToken + " is readable by others (chmod 600)"},
		{"token empty", with(cloudflare, func(c *pnctls.Config) { c.DNSAPITokenFile = emptyToken }),
			"--dns-api-token-file: " + emptyToken + " is empty"},
		{"token missing", with(cloudflare, func(c *pnctls.Config) { c.DNSAPITokenFile = dir + "/nope" }),
			"--dns-api-token-file: open " + dir + "/nope: no such file or directory"},
		{"rfc2136 without server", with(rfc2136, func(c *pnctls.Config) { c.RFC2136Server = "" }),
			"--rfc2136-server: required with --dns-provider=rfc2136"},
		{"rfc2136 server without port", with(rfc2136, func(c *pnctls.Config) { c.RFC2136Server = "ns1.example.org" }),
			`--rfc2136-server: "ns1.example.org" is not HOST:PORT`},
		{"rfc2136 without key name", with(rfc2136, func(c *pnctls.Config) { c.RFC2136KeyName = "" }),
			"--rfc2136-key-name: required with --dns-provider=rfc2136"},
		{"rfc2136 without key file", with(rfc2136, func(c *pnctls.Config) { c.RFC2136KeyFile = "" }),
			"--rfc2136-key-file: required with --dns-provider=rfc2136"},
		{"rfc2136 key not base64", with(rfc2136, func(c *pnctls.Config) { c.RFC2136KeyFile = badTSIG }),
			"--rfc2136-key-file: " + badTSIG + " does not hold a base64 TSIG secret"},
		{"rfc2136 unknown algorithm", with(rfc2136, func(c *pnctls.Config) { c.RFC2136KeyAlg = "hmac-md4" }),
			`--rfc2136-key-alg: unknown algorithm "hmac-md4"`},
		{"acme settings without domains", pnctls.Config{DNSProvider: "cloudflare", DNSAPITokenFile: token},
			"--tls-domain: required when --dns-provider is set"},
		{"email without domains", pnctls.Config{ACMEEmail: "ops@example.org"},
			"--tls-domain: required when --acme-email is set"},
		{"static and acme", with(cloudflare, func(c *pnctls.Config) { c.CertFile, c.KeyFile = "/c", "/k" }),
			"--tls-cert-file: cannot be combined with --tls-domain"},
		{"cert without key", pnctls.Config{CertFile: "/c"}, "--tls-key-file: required with --tls-cert-file"},
		{"key without cert", pnctls.Config{KeyFile: "/k"}, "--tls-cert-file: required with --tls-key-file"},
		{"no email", with(cloudflare, func(c *pnctls.Config) { c.ACMEEmail = "" }), "--acme-email: required with --tls-domain"},
		{"no state dir", with(cloudflare, func(c *pnctls.Config) { c.StateDir = "" }), "--state-dir: required with --tls-domain"},
		{"domain with scheme", with(cloudflare, func(c *pnctls.Config) { c.Domains = []string{"https://cache.example.org"} }),
			`--tls-domain: "https://cache.example.org" is not a host name`},
		{"plain http CA", with(cloudflare, func(c *pnctls.Config) { c.ACMECA = "http://ca.example.org/dir" }),
			`--acme-ca: "http://ca.example.org/dir" is not an https:// URL`},
		{"CA root not PEM", with(cloudflare, func(c *pnctls.Config) { c.ACMECARoot = notPEM }),
			"--acme-ca-root: " + notPEM + " holds no PEM certificate"},
		{"bad resolver", with(cloudflare, func(c *pnctls.Config) { c.DNSResolver = "not a resolver" }),
			`--dns-resolver: "not a resolver" is not HOST or HOST:PORT`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			if got := err.Error(); !strings.Contains(got, tt.want) {
				t.Errorf("Validate() = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestValidateOneLinePerProblem(t *testing.T) {
	err := pnctls.Config{Domains: []string{"cache.example.org"}, DNSProvider: "rfc2136"}.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{
		"--acme-email: required with --tls-domain",
		"--state-dir: required with --tls-domain",
		"--rfc2136-server: required with --dns-provider=rfc2136",
		"--rfc2136-key-name: required with --dns-provider=rfc2136",
		"--rfc2136-key-file: required with --dns-provider=rfc2136",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

func TestEnabled(t *testing.T) {
	tests := []struct {
		cfg  pnctls.Config
		want bool
	}{
		{pnctls.Config{}, false},
		{pnctls.Config{ACMEEmail: "ops@example.org"}, false},
		{pnctls.Config{Domains: []string{"a.example.org"}}, true},
		{pnctls.Config{CertFile: "/c", KeyFile: "/k"}, true},
	}
	for _, tt := range tests {
		if got := tt.cfg.Enabled(); got != tt.want {
			t.Errorf("%+v.Enabled() = %v, want %v", tt.cfg, got, tt.want)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	logger, _ := newLogger()
	if _, err := pnctls.New(context.Background(), pnctls.Config{CertFile: "/c"}, logger, nil); err == nil ||
		!strings.Contains(err.Error(), "--tls-key-file") {
		t.Errorf("New with a cert but no key: err = %v", err)
	}
	if _, err := pnctls.New(context.Background(), pnctls.Config{}, logger, nil); err == nil {
		t.Error("New with TLS off: want an error")
	}
}

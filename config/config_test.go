package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(fs, args)
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:5000" || c.LocalStore != "auto" || c.LocalCompression != "zstd" || c.Recompress != "zstd" || c.RecompressLevel != 1 || c.Priority != 30 || !c.Resign {
		t.Errorf("defaults: %+v", c)
	}
	if len(c.Upstreams) != 1 || c.Upstreams[0].URL != "https://cache.nixos.org" {
		t.Errorf("default upstreams: %+v", c.Upstreams)
	}
	if !slices.Equal(c.TrustedPublicKeys, []string{CacheNixosOrgKey}) {
		t.Errorf("default keys: %v", c.TrustedPublicKeys)
	}
	if time.Duration(c.NegativeTTL) != 10*time.Minute {
		t.Errorf("negative ttl %v", c.NegativeTTL)
	}
}

func TestFlagsWinOverFile(t *testing.T) {
	p := writeFile(t, `
listen = "127.0.0.1:6000"
priority = 10
secret-key-file = ["/a", "/b"]
negative-ttl = "1m"
max-size = "50GiB"

[[upstream]]
url = "https://example.cachix.org"
priority = 41
public-keys = ["example.cachix.org-1:AAAA"]
token-file = "/run/secrets/t"
`)
	c, err := load(t, "--config", p, "--priority", "20", "--secret-key-file", "/c")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:6000" {
		t.Errorf("listen from file: %q", c.Listen)
	}
	if c.Priority != 20 {
		t.Errorf("priority: flag must win, got %d", c.Priority)
	}
	if !slices.Equal(c.SecretKeyFiles, []string{"/c"}) {
		t.Errorf("repeatable flag replaces the file's list: %v", c.SecretKeyFiles)
	}
	if got, _ := c.MaxSizeBytes(); got != 50<<30 {
		t.Errorf("max-size = %d", got)
	}
	if len(c.Upstreams) != 1 || c.Upstreams[0].Priority != 41 || c.Upstreams[0].TokenFile != "/run/secrets/t" {
		t.Errorf("upstream table: %+v", c.Upstreams)
	}
}

func TestUpstreamFlags(t *testing.T) {
	c, err := load(t, "--upstream", "none")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Upstreams) != 0 {
		t.Errorf("--upstream none: %+v", c.Upstreams)
	}
	c, err = load(t, "--upstream", "http://127.0.0.1:1", "--upstream", "https://b.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Upstreams) != 2 || c.Upstreams[1].URL != "https://b.example" {
		t.Errorf("upstreams: %+v", c.Upstreams)
	}
}

func TestErrorsNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		file string
		want string
	}{
		{args: []string{"--local-store", "maybe"}, want: "--local-store"},
		{args: []string{"--local-compression", "xz"}, want: "--local-compression"},
		{file: "local-compression = \"gzip\"\n", want: "--local-compression"},
		{args: []string{"--recompress", "xz"}, want: "--recompress"},
		{file: "recompress = \"gzip\"\n", want: "--recompress"},
		{args: []string{"--recompress-level", "0"}, want: "--recompress-level"},
		{file: "recompress-level = 23\n", want: "--recompress-level"},
		{args: []string{"--max-size", "lots"}, want: "--max-size"},
		{args: []string{"--listen", "nowhere"}, want: "--listen"},
		{args: []string{"--listen", "unix:run/sock"}, want: "absolute path"},
		{args: []string{"--upstream", "ftp://x"}, want: "--upstream"},
		{args: []string{"--upstream", "https://user:pw@x"}, want: "credentials"},
		{args: []string{"--log-level", "loud"}, want: "--log-level"},
		{args: []string{"--negative-ttl", "0s"}, want: "--negative-ttl"},
		{args: []string{"--max-connections", "-1"}, want: "--max-connections"},
		{args: []string{"--max-connections-per-ip", "-1"}, want: "--max-connections-per-ip"},
		{args: []string{"--write-stall-timeout", "-1s"}, want: "--write-stall-timeout"},
		{file: "listn = \"x\"\n", want: "unknown key listn"},
		{file: "[[upstream]]\nurl = \"https://x\"\ntoken = \"t\"\n", want: "unknown key upstream.token"},
		{args: []string{"stray"}, want: "unexpected argument"},
	} {
		args := tc.args
		if tc.file != "" {
			args = append([]string{"--config", writeFile(t, tc.file)}, args...)
		}
		_, err := load(t, args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %q: err = %v, want it to mention %q", tc.args, tc.file, err, tc.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error spans lines: %q", err)
		}
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	open := filepath.Join(dir, "open")
	empty := filepath.Join(dir, "empty")
	os.WriteFile(good, []byte("name:secret\n"), 0o600)
	os.WriteFile(open, []byte("name:secret"), 0o644)
	os.WriteFile(empty, []byte("\n"), 0o600)
	if b, err := ReadSecret("secret-key-file", good); err != nil || string(b) != "name:secret" {
		t.Errorf("good: %q %v", b, err)
	}
	for _, p := range []string{open, empty, filepath.Join(dir, "missing")} {
		_, err := ReadSecret("secret-key-file", p)
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != "secret-key-file" {
			t.Errorf("%s: err = %v", p, err)
		}
	}
}

// The NixOS module renders this file; the binary must accept every key.
func TestModuleRenderedConfig(t *testing.T) {
	p := filepath.Join("..", "testdata", "module-rendered.toml")
	c := Default()
	if err := c.DecodeFile(p); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Upstreams) == 0 || len(c.SecretKeyFiles) == 0 {
		t.Errorf("rendering lost settings: %+v", c)
	}
}

func TestConnectionLimits(t *testing.T) {
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxConnections != 0 || c.MaxConnectionsPerIP != 256 || time.Duration(c.WriteStallTimeout) != 2*time.Minute {
		t.Errorf("defaults: max %d, per ip %d, stall %v", c.MaxConnections, c.MaxConnectionsPerIP, c.WriteStallTimeout)
	}
	p := writeFile(t, "max-connections = 500\nmax-connections-per-ip = 20\nwrite-stall-timeout = \"30s\"\n")
	c, err = load(t, "--config", p, "--max-connections-per-ip", "10")
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxConnections != 500 || c.MaxConnectionsPerIP != 10 || time.Duration(c.WriteStallTimeout) != 30*time.Second {
		t.Errorf("from file and flag: max %d, per ip %d, stall %v", c.MaxConnections, c.MaxConnectionsPerIP, c.WriteStallTimeout)
	}
}

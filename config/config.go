// Package config holds the settings of `private-nix-cache serve`: their
// defaults, the TOML file and the command-line flags. Every flag has a TOML
// key of the same name; flags win over the file.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// CacheNixosOrgKey is the public key of cache.nixos.org.
const CacheNixosOrgKey = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="

// LetsEncrypt is the production ACME directory of Let's Encrypt.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// maxNARHeaderTimeout is the cache's stall timeout (cache.Options), which
// also ends a NAR request that has sent nothing.
const maxNARHeaderTimeout = Duration(30 * time.Second)

// Upstream is one upstream binary cache.
type Upstream struct {
	URL string `toml:"url"`
	// Priority overrides the upstream's own nix-cache-info; 0 keeps it.
	Priority int `toml:"priority"`
	// PublicKeys are trusted for this upstream only, on top of TrustedPublicKeys.
	PublicKeys []string `toml:"public-keys"`
	// TokenFile holds a token sent as "Authorization: Bearer".
	TokenFile string `toml:"token-file"`
	// NetrcFile holds Basic credentials for the upstream's host.
	NetrcFile string `toml:"netrc-file"`
}

// Config is every setting of the server. The zero value is not useful:
// start from Default.
type Config struct {
	// Listen is HOST:PORT, or unix:/PATH for a socket a local reverse
	// proxy connects to. A socket systemd passes (LISTEN_FDS) wins over it.
	Listen         string   `toml:"listen"`
	StoreRoot      string   `toml:"store-root"`
	LocalStore     string   `toml:"local-store"` // auto, true or false
	SecretKeyFiles []string `toml:"secret-key-file"`
	Priority       int      `toml:"priority"`
	LogLevel       string   `toml:"log-level"`
	// AccessLog logs one line per request at info level; false logs none.
	AccessLog bool `toml:"access-log"`

	// LocalCompression is how local NARs are sent: "zstd" compresses them
	// on the fly, "none" sends them as they are, with Range.
	LocalCompression string `toml:"local-compression"`

	// MaxConnections caps open client connections; 0 sizes the cap from
	// the open file limit.
	MaxConnections int `toml:"max-connections"`
	// MaxConnectionsPerIP caps the connections of one client address; 0
	// means no cap.
	MaxConnectionsPerIP int `toml:"max-connections-per-ip"`
	// WriteStallTimeout drops a connection whose response makes no
	// progress for this long; 0 never does.
	WriteStallTimeout Duration `toml:"write-stall-timeout"`

	// TokenFiles hold the tokens clients present (auth.Parse); none asks
	// no client for one.
	TokenFiles []string `toml:"token-file"`
	// Private makes every read but nix-cache-info need a token with the
	// read scope; false leaves reads open.
	Private bool `toml:"private"`
	// MetricsListen moves /metrics to its own plain HTTP listener, open
	// to whoever reaches it; "" serves it on the main listener.
	MetricsListen string `toml:"metrics-listen"`

	// PushTrustedPublicKeys are keys an uploaded narinfo may be signed by
	// to be taken from any push token; an unsigned one needs a token of
	// the sign scope. None trusts only the server's own keys (with
	// PushTrustOwnKeys).
	PushTrustedPublicKeys []string `toml:"push-trusted-public-key"`
	// PushTrustOwnKeys trusts the public halves of SecretKeyFiles for
	// pushes too, so that a builder holding the cache's key may push;
	// false trusts PushTrustedPublicKeys alone.
	PushTrustOwnKeys bool `toml:"push-trust-own-keys"`
	// PushMaxAge removes pushed paths this long after their narinfo was
	// stored; 0 keeps them forever.
	PushMaxAge Duration `toml:"push-max-age"`
	// MaxUploadSize bounds one uploaded NAR, compressed or not; "" means 32GiB.
	MaxUploadSize string `toml:"max-upload-size"`
	// PushMaxSize bounds all pushed NARs together; "" means no limit.
	PushMaxSize string `toml:"push-max-size"`

	CacheDir          string     `toml:"cache-dir"`
	MaxSize           string     `toml:"max-size"` // "" means no limit
	NegativeTTL       Duration   `toml:"negative-ttl"`
	Resign            bool       `toml:"resign"`
	Upstreams         []Upstream `toml:"upstream"`
	TrustedPublicKeys []string   `toml:"trusted-public-key"`
	NetrcFile         string     `toml:"netrc-file"`
	// Recompress is how mirrored NARs are served once re-encoded: "zstd",
	// "none" (the NAR itself, with Range and sendfile), or "off" (as the
	// upstream compressed them).
	Recompress string `toml:"recompress"`
	// RecompressLevel is the zstd level of re-encoded NARs, 1 to 19.
	RecompressLevel int `toml:"recompress-level"`

	// UpstreamLookupTimeout bounds each narinfo request to an upstream.
	UpstreamLookupTimeout Duration `toml:"upstream-lookup-timeout"`
	// UpstreamNARHeaderTimeout bounds the wait for the response headers
	// of a NAR request to an upstream (the body is not bounded).
	UpstreamNARHeaderTimeout Duration `toml:"upstream-nar-header-timeout"`

	StateDir           string   `toml:"state-dir"`
	TLSDomains         []string `toml:"tls-domain"`
	ACMEEmail          string   `toml:"acme-email"`
	ACMECA             string   `toml:"acme-ca"`
	ACMECARoot         string   `toml:"acme-ca-root"`
	DNSProvider        string   `toml:"dns-provider"`
	DNSAPITokenFile    string   `toml:"dns-api-token-file"`
	RFC2136Server      string   `toml:"rfc2136-server"`
	RFC2136KeyName     string   `toml:"rfc2136-key-name"`
	RFC2136KeyAlg      string   `toml:"rfc2136-key-alg"`
	RFC2136KeyFile     string   `toml:"rfc2136-key-file"`
	DNSResolver        string   `toml:"dns-resolver"`
	TLSCertFile        string   `toml:"tls-cert-file"`
	TLSKeyFile         string   `toml:"tls-key-file"`
	HTTPRedirectListen string   `toml:"http-redirect-listen"`

	Ops
}

// Default returns the settings used when neither file nor flag says
// otherwise: the local store on 127.0.0.1:5000, mirroring cache.nixos.org.
func Default() Config {
	return Config{
		Listen:           "127.0.0.1:5000",
		StoreRoot:        "/",
		LocalStore:       "auto",
		LocalCompression: "zstd",
		Priority:         30,
		LogLevel:         "info",
		CacheDir:         filepath.Join(xdgDir("XDG_CACHE_HOME", ".cache"), "private-nix-cache"),
		NegativeTTL:      Duration(10 * time.Minute),
		Resign:           true,
		PushTrustOwnKeys: true,
		Recompress:       "zstd",
		// Level 1 keeps pace with the xz check-decode on one core (about 120
		// MB/s) and writes 6% more bytes than level 3 at 60% of its CPU.
		RecompressLevel:   1,
		Upstreams:         []Upstream{{URL: "https://cache.nixos.org"}},
		TrustedPublicKeys: []string{CacheNixosOrgKey},
		StateDir:          filepath.Join(xdgDir("XDG_DATA_HOME", filepath.Join(".local", "share")), "private-nix-cache"),
		ACMECA:            LetsEncrypt,
		RFC2136KeyAlg:     "hmac-sha256",
		Ops:               defaultOps(),

		UpstreamLookupTimeout:    Duration(5 * time.Second),
		UpstreamNARHeaderTimeout: Duration(10 * time.Second),
		// Nix opens at most http-connections (25) per host.
		MaxConnectionsPerIP: 256,
		WriteStallTimeout:   Duration(2 * time.Minute),
	}
}

func xdgDir(env, fallback string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, fallback)
	}
	return filepath.Join(os.TempDir(), fallback)
}

// Error names the setting that is wrong.
type Error struct {
	Key string
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("--%s: %v", e.Key, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

func bad(key, format string, args ...any) error {
	return &Error{Key: key, Err: fmt.Errorf(format, args...)}
}

// MaxSizeBytes is MaxSize in bytes; 0 means no limit.
func (c *Config) MaxSizeBytes() (int64, error) { return sizeBytes("max-size", c.MaxSize) }

// PushSizes are MaxUploadSize and PushMaxSize in bytes; 0 means the default.
func (c *Config) PushSizes() (maxUpload, maxStore int64, err error) {
	if maxUpload, err = sizeBytes("max-upload-size", c.MaxUploadSize); err != nil {
		return 0, 0, err
	}
	maxStore, err = sizeBytes("push-max-size", c.PushMaxSize)
	return maxUpload, maxStore, err
}

// sizeBytes parses a size setting; "" and "0" are 0.
func sizeBytes(key, v string) (int64, error) {
	if v == "" || v == "0" {
		return 0, nil
	}
	n, err := humanize.ParseBytes(v)
	if err != nil || n > 1<<62 {
		return 0, bad(key, "%q is not a size like 50GiB", v)
	}
	return int64(n), nil
}

// Validate checks what can be checked without touching files.
func (c *Config) Validate() error {
	if err := validateListen(c.Listen); err != nil {
		return err
	}
	switch c.LocalStore {
	case "auto", "true", "false":
	default:
		return bad("local-store", "%q is not auto, true or false", c.LocalStore)
	}
	switch c.LocalCompression {
	case "zstd", "none":
	default:
		return bad("local-compression", "%q is not zstd or none", c.LocalCompression)
	}
	if c.Priority < 0 {
		return bad("priority", "must not be negative")
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return bad("log-level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if err := c.validateLimits(); err != nil {
		return err
	}
	if err := c.validateAccess(); err != nil {
		return err
	}
	if _, err := c.MaxSizeBytes(); err != nil {
		return err
	}
	if _, _, err := c.PushSizes(); err != nil {
		return err
	}
	if err := c.validateMirror(); err != nil {
		return err
	}
	if err := c.validateOps(); err != nil {
		return err
	}
	if c.HTTPRedirectListen != "" {
		if _, _, err := net.SplitHostPort(c.HTTPRedirectListen); err != nil {
			return bad("http-redirect-listen", "%q is not HOST:PORT", c.HTTPRedirectListen)
		}
	}
	return nil
}

// validateMirror checks the settings of the upstream mirror.
func (c *Config) validateMirror() error {
	if c.NegativeTTL <= 0 {
		return bad("negative-ttl", "must be a positive duration like 10m")
	}
	if c.UpstreamLookupTimeout <= 0 {
		return bad("upstream-lookup-timeout", "must be a positive duration like 5s")
	}
	if c.UpstreamNARHeaderTimeout <= 0 || c.UpstreamNARHeaderTimeout > maxNARHeaderTimeout {
		// Beyond the cache's stall timeout the download gives up first,
		// and the upstream's back-off never learns of the silence.
		return bad("upstream-nar-header-timeout", "must be a duration like 10s, at most %s", time.Duration(maxNARHeaderTimeout))
	}
	switch c.Recompress {
	case "zstd", "none", "off":
	default:
		return bad("recompress", "%q is not zstd, none or off", c.Recompress)
	}
	if c.RecompressLevel < 1 || c.RecompressLevel > 19 {
		return bad("recompress-level", "%d is not a zstd level from 1 to 19", c.RecompressLevel)
	}
	if c.CacheDir == "" && len(c.Upstreams) > 0 {
		return bad("cache-dir", "must be set when mirroring upstreams")
	}
	for _, u := range c.Upstreams {
		if err := validateUpstreamURL(u.URL); err != nil {
			return bad("upstream", "%v", err)
		}
		if u.Priority < 0 {
			return bad("upstream", "%s: priority must not be negative", u.URL)
		}
	}
	return nil
}

// validateListen accepts HOST:PORT or unix:/ABSOLUTE/PATH.
func validateListen(addr string) error {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if !filepath.IsAbs(path) {
			return bad("listen", "%q: a unix socket takes an absolute path (unix:/run/…/sock)", addr)
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return bad("listen", "%q is not HOST:PORT or unix:/PATH", addr)
	}
	return nil
}

func validateUpstreamURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: only http and https upstreams are supported", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q: put credentials in a netrc or token file, not in the URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("an upstream URL takes no query or fragment")
	}
	return nil
}

func (c *Config) validateAccess() error {
	if c.Private && len(c.TokenFiles) == 0 {
		return bad("private", "needs a --token-file with a read token")
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return bad("metrics-listen", "%q is not HOST:PORT", c.MetricsListen)
		}
	}
	return nil
}

func (c *Config) validateLimits() error {
	switch {
	case c.MaxConnections < 0:
		return bad("max-connections", "must not be negative")
	case c.MaxConnectionsPerIP < 0:
		return bad("max-connections-per-ip", "must not be negative")
	case c.WriteStallTimeout < 0:
		return bad("write-stall-timeout", "must not be negative")
	case c.PushMaxAge < 0:
		return bad("push-max-age", "must not be negative")
	}
	return nil
}

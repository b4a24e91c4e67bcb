package config

import (
	"flag"
	"fmt"
	"strings"
)

// list is a repeatable flag: the first use on the command line replaces
// what the file said, later uses append.
type list struct {
	dst *[]string
	set bool
}

func (l *list) String() string {
	if l.dst == nil {
		return ""
	}
	return strings.Join(*l.dst, ",")
}

func (l *list) Set(v string) error {
	if !l.set {
		*l.dst, l.set = nil, true
	}
	*l.dst = append(*l.dst, v)
	return nil
}

// upstreamList is --upstream: URLs in order, "none" for no upstream.
type upstreamList struct {
	dst *[]Upstream
	set bool
}

func (l *upstreamList) String() string { return "" }

func (l *upstreamList) Set(v string) error {
	if !l.set {
		*l.dst, l.set = []Upstream{}, true
	}
	if v != "none" {
		*l.dst = append(*l.dst, Upstream{URL: v})
	}
	return nil
}

// Flags registers every setting on fs, writing into c when parsed. Parse
// the flags after the file has been decoded into c so they win over it.
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "`ADDR` to listen on: HOST:PORT or unix:/PATH")
	fs.StringVar(&c.StoreRoot, "store-root", c.StoreRoot, "root `DIR` of the local Nix store")
	fs.StringVar(&c.LocalStore, "local-store", c.LocalStore, "serve the local store: auto, true or false")
	fs.StringVar(&c.LocalCompression, "local-compression", c.LocalCompression, "how local NARs are sent: zstd (compressed on the fly) or none")
	fs.Var(&list{dst: &c.SecretKeyFiles}, "secret-key-file", "Nix secret signing key `FILE` (repeatable)")
	fs.IntVar(&c.Priority, "priority", c.Priority, "Priority in nix-cache-info (lower wins)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.IntVar(&c.MaxConnections, "max-connections", c.MaxConnections, "most client connections at once; 0: sized from the open file limit")
	fs.IntVar(&c.MaxConnectionsPerIP, "max-connections-per-ip", c.MaxConnectionsPerIP, "most connections from one client address; 0: no cap")
	fs.Var(&c.WriteStallTimeout, "write-stall-timeout", "drop a connection whose response makes no progress this long; 0: never")
	fs.BoolVar(&c.AccessLog, "access-log", c.AccessLog, "log one line per request (method, path, status, bytes, duration)")
	fs.Var(&list{dst: &c.TokenFiles}, "token-file", "`FILE` of client tokens, lines of NAME SCOPES SECRET (repeatable)")
	fs.BoolVar(&c.Private, "private", c.Private, "reads need a token with the read scope (nix-cache-info stays open)")
	fs.Var(&list{dst: &c.PushTrustedPublicKeys}, "push-trusted-public-key", "public `KEY` an upload may be signed by to be taken from any push token (repeatable); unsigned uploads need a sign token")
	fs.BoolVar(&c.PushTrustOwnKeys, "push-trust-own-keys", c.PushTrustOwnKeys, "trust the public halves of --secret-key-file for pushes too")
	fs.Var(&c.PushMaxAge, "push-max-age", "remove pushed paths this long after they were pushed; 0: keep them")
	fs.StringVar(&c.MaxUploadSize, "max-upload-size", c.MaxUploadSize, "largest uploaded NAR `SIZE`, compressed or not; empty: 32GiB")
	fs.StringVar(&c.PushMaxSize, "push-max-size", c.PushMaxSize, "`SIZE` of all pushed NARs together; empty: no limit")
	fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "`ADDR` serving /metrics on its own, without a token")

	fs.StringVar(&c.CacheDir, "cache-dir", c.CacheDir, "`DIR` of the NAR cache and its index")
	fs.StringVar(&c.MaxSize, "max-size", c.MaxSize, "evict down to this `SIZE` (e.g. 50GiB); empty: no limit")
	fs.Var(&c.NegativeTTL, "negative-ttl", "how long an upstream miss is remembered")
	fs.BoolVar(&c.Resign, "resign", c.Resign, "add our signature to verified upstream narinfos")
	fs.StringVar(&c.Recompress, "recompress", c.Recompress, "serve mirrored NARs re-encoded: zstd, none (uncompressed) or off (as the upstream has them)")
	fs.IntVar(&c.RecompressLevel, "recompress-level", c.RecompressLevel, "zstd `LEVEL` of re-encoded NARs (1 to 19)")
	fs.Var(&upstreamList{dst: &c.Upstreams}, "upstream", "upstream cache `URL` (repeatable, in order; none for no upstream)")
	fs.Var(&list{dst: &c.TrustedPublicKeys}, "trusted-public-key", "public `KEY` trusted for every upstream (repeatable)")
	fs.StringVar(&c.NetrcFile, "netrc-file", c.NetrcFile, "netrc `FILE` with upstream credentials")
	fs.Var(&c.UpstreamLookupTimeout, "upstream-lookup-timeout", "how long one upstream narinfo request may take")
	fs.Var(&c.UpstreamNARHeaderTimeout, "upstream-nar-header-timeout", "how long an upstream may take to start answering a NAR request")
	c.opsFlags(fs)

	fs.StringVar(&c.StateDir, "state-dir", c.StateDir, "`DIR` for ACME certificates and account")
	fs.Var(&list{dst: &c.TLSDomains}, "tls-domain", "host `NAME` to get a certificate for (repeatable)")
	fs.StringVar(&c.ACMEEmail, "acme-email", c.ACMEEmail, "contact address for the ACME account")
	fs.StringVar(&c.ACMECA, "acme-ca", c.ACMECA, "ACME directory `URL`")
	fs.StringVar(&c.ACMECARoot, "acme-ca-root", c.ACMECARoot, "PEM `FILE` of a CA root to trust for the ACME directory")
	fs.StringVar(&c.DNSProvider, "dns-provider", c.DNSProvider, "DNS-01 provider: cloudflare or rfc2136")
	fs.StringVar(&c.DNSAPITokenFile, "dns-api-token-file", c.DNSAPITokenFile, "`FILE` holding the DNS provider's API token")
	fs.StringVar(&c.RFC2136Server, "rfc2136-server", c.RFC2136Server, "DNS server `HOST:PORT` taking RFC 2136 updates")
	fs.StringVar(&c.RFC2136KeyName, "rfc2136-key-name", c.RFC2136KeyName, "TSIG key name")
	fs.StringVar(&c.RFC2136KeyAlg, "rfc2136-key-alg", c.RFC2136KeyAlg, "TSIG algorithm")
	fs.StringVar(&c.RFC2136KeyFile, "rfc2136-key-file", c.RFC2136KeyFile, "`FILE` holding the base64 TSIG secret")
	fs.StringVar(&c.DNSResolver, "dns-resolver", c.DNSResolver, "resolver `HOST:PORT` for the DNS propagation check")
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", c.TLSCertFile, "static certificate `FILE` (PEM), reloaded on change")
	fs.StringVar(&c.TLSKeyFile, "tls-key-file", c.TLSKeyFile, "static key `FILE` (PEM)")
	fs.StringVar(&c.HTTPRedirectListen, "http-redirect-listen", c.HTTPRedirectListen, "`ADDR` answering plain HTTP with a redirect to HTTPS")
}

// Load builds the configuration from args: defaults, then the --config
// file if any, then the other flags.
func Load(fs *flag.FlagSet, args []string) (*Config, error) {
	// First pass finds --config; flag values from it are thrown away.
	probe := Default()
	var path string
	pfs := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	pfs.SetOutput(discard{})
	pfs.StringVar(&path, "config", "", "")
	probe.Flags(pfs)
	_ = pfs.Parse(args)

	c := Default()
	if path != "" {
		if err := c.DecodeFile(path); err != nil {
			return nil, err
		}
	}
	fs.String("config", "", "TOML `FILE` with settings (flags win over it)")
	c.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Package upstream is the client side of the binary caches this server mirrors
// (cache.nixos.org, Cachix, other Nix HTTP caches): narinfo lookups across all
// upstreams in parallel, signature checks, and NAR downloads.
package upstream

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/internal/flight"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// Config describes one upstream cache.
type Config struct {
	// URL is the base URL, e.g. https://cache.nixos.org. A trailing slash is
	// ignored. Only http and https, without userinfo.
	URL string
	// Priority orders upstreams (lower wins). 0: take it from the upstream's
	// nix-cache-info, fetched by Set.Probe or on first use; 50 when that is
	// unknown.
	Priority int
	// PublicKeys are trusted for narinfos of this upstream, in addition to
	// Options.Trusted.
	PublicKeys []string
	// TokenFile holds a token sent as "Authorization: Bearer <token>". Read
	// once by New; surrounding whitespace is trimmed. Empty: no token.
	TokenFile string
	// NetrcFile gives basic auth from the entry for the URL's host (Cachix:
	// empty login, token as password). Empty: Options.NetrcFile.
	NetrcFile string
}

// Options apply to every upstream of a Set.
type Options struct {
	// Trusted are the public keys (trusted-public-keys) for all upstreams.
	Trusted []string
	// NetrcFile is the netrc used by upstreams without their own. Empty: none.
	NetrcFile string
	// Transport carries every request. nil: one shared, tuned transport. An
	// *http.Transport that would ask for gzip is cloned with compression off.
	Transport http.RoundTripper
	// LookupTimeout bounds each narinfo and nix-cache-info request. 0: 5s.
	LookupTimeout time.Duration
	// NARHeaderTimeout bounds the wait for the response headers of a NAR
	// request (the body has no deadline but the caller's context). 0: 10s.
	NARHeaderTimeout time.Duration
	// Logger receives one line per NAR fetch and debug lines per narinfo.
	// nil: slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics. nil: metrics are kept but not registered.
	Registerer prometheus.Registerer
}

// ErrUnavailable means an answer could not be had because at least one
// upstream failed transiently; unlike fs.ErrNotExist it must not be cached as a miss.
var ErrUnavailable = errors.New("upstream unavailable")

// ErrTimeout marks an upstream that did not answer in time (narinfo, or the
// response headers of a NAR). Callers may tell it from other failures
// (a 504 rather than a 502).
var ErrTimeout = errors.New("upstream timed out")

const (
	defaultLookupTimeout = 5 * time.Second
	// A CDN in front of a binary cache answers within a second or two,
	// even for a NAR it must first fetch itself; longer means it is stuck.
	defaultNARHeaderTimeout = 10 * time.Second
	defaultPriority         = 50
	// maxNarInfoSize bounds a narinfo read from an upstream. Its bulk is
	// the References line, ~60-80 bytes a reference: a few hundred for
	// large packages, a few thousand for the biggest environments of
	// nixpkgs (texliveFull links every TeX package). 512 KiB holds ~7000;
	// what is not signed is bounded far tighter (maxUnsignedNarInfoSize),
	// so a narinfo this large is one its signer made.
	maxNarInfoSize = 512 << 10
	// maxUnsignedNarInfoSize bounds the fields no signature covers (URL,
	// Compression, FileHash, Deriver, System, CA, the signatures): real
	// ones take 300-600 bytes with two or three signatures.
	maxUnsignedNarInfoSize = 4 << 10
	maxCacheInfoSize       = 64 << 10
)

// Set is the ordered list of upstreams a server mirrors.
type Set struct {
	ups           []*Upstream
	lookupTimeout time.Duration
	log           *slog.Logger
	m             *metrics
	bad           badPaths
}

// Upstream is one upstream cache.
type Upstream struct {
	name          string // base URL without trailing slash
	base          *url.URL
	index         int // position in the configuration: breaks priority ties
	keys          []signature.PublicKey
	authorization string // full Authorization header value, "" for none
	credentials   string // where authorization comes from, for logs: token-file, netrc-file, none
	client        *http.Client
	lookupTimeout time.Duration
	headerTimeout time.Duration
	log           *slog.Logger
	m             *metrics
	breaker       breaker
	warnings      throttle // transient narinfo failures logged as warnings
	refusals      throttle // 401/403 answers logged as warnings

	prioMu      sync.Mutex
	prio        int                              // > 0 once known
	prioRetryAt time.Time                        // when an unknown priority may be fetched again
	prioErr     error                            // why the last nix-cache-info fetch failed; nil after a success
	prioFetch   flight.Group[struct{}, struct{}] // the nix-cache-info fetch in progress
}

// Found is a verified narinfo and the upstream that served it.
type Found struct {
	NarInfo  *narinfo.NarInfo
	Upstream *Upstream
	// BadTransfers counts the bad transfers in a row of this path by
	// Upstream (see MarkBad). 0: none; otherwise no other upstream had the
	// path, and the caller may pause before fetching from it again.
	BadTransfers int
}

// New validates the configuration (URLs, keys, credential files) and builds
// the Set. Nothing is fetched yet.
func New(cfgs []Config, opts Options) (*Set, error) {
	if opts.LookupTimeout <= 0 {
		opts.LookupTimeout = defaultLookupTimeout
	}
	if opts.NARHeaderTimeout <= 0 {
		opts.NARHeaderTimeout = defaultNARHeaderTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	trusted, err := parseKeys(opts.Trusted)
	if err != nil {
		return nil, fmt.Errorf("trusted public keys: %w", err)
	}
	var globalNetrc *netrc
	if opts.NetrcFile != "" {
		if globalNetrc, err = readNetrc(opts.NetrcFile); err != nil {
			return nil, err
		}
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: rawTransport(opts.Transport)}
	s := &Set{lookupTimeout: opts.LookupTimeout, log: opts.Logger, m: m}
	seen := map[string]bool{}
	for i, c := range cfgs {
		u, err := newUpstream(i, c, trusted, globalNetrc)
		if err != nil {
			return nil, fmt.Errorf("upstream %d (%s): %w", i+1, redactURL(c.URL), err)
		}
		if seen[u.name] {
			return nil, fmt.Errorf("upstream %s listed twice", u.name)
		}
		seen[u.name] = true
		u.client = client
		u.lookupTimeout = opts.LookupTimeout
		u.headerTimeout = opts.NARHeaderTimeout
		u.log = opts.Logger.With("upstream", u.name)
		u.m = m
		s.ups = append(s.ups, u)
	}
	return s, nil
}

func newUpstream(index int, c Config, trusted []signature.PublicKey, globalNetrc *netrc) (*Upstream, error) {
	base, err := parseBaseURL(c.URL)
	if err != nil {
		return nil, err
	}
	if c.Priority < 0 {
		return nil, fmt.Errorf("priority %d is negative", c.Priority)
	}
	own, err := parseKeys(c.PublicKeys)
	if err != nil {
		return nil, fmt.Errorf("public keys: %w", err)
	}
	u := &Upstream{
		name:        base.String(),
		base:        base,
		index:       index,
		keys:        append(append([]signature.PublicKey(nil), trusted...), own...),
		prio:        c.Priority,
		credentials: "none",
	}
	switch {
	case c.TokenFile != "":
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, fmt.Errorf("token file %s is empty", c.TokenFile)
		}
		if strings.ContainsAny(tok, "\r\n") {
			return nil, fmt.Errorf("token file %s holds more than one line", c.TokenFile)
		}
		u.authorization = "Bearer " + tok
		u.credentials = "token-file"
	default:
		n := globalNetrc
		if c.NetrcFile != "" {
			if n, err = readNetrc(c.NetrcFile); err != nil {
				return nil, err
			}
		}
		if n != nil {
			if login, password, ok := n.lookup(base.Hostname()); ok {
				req := http.Request{Header: http.Header{}}
				req.SetBasicAuth(login, password)
				u.authorization = req.Header.Get("Authorization")
				u.credentials = "netrc-file"
			}
		}
	}
	return u, nil
}

// parseBaseURL accepts absolute http(s) URLs without userinfo, query or fragment.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("bad URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("URL scheme must be http or https")
	case u.Host == "":
		return nil, errors.New("URL has no host")
	case u.User != nil:
		return nil, errors.New("URL must not carry credentials (use token-file or netrc-file)")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, errors.New("URL must not have a query or fragment")
	}
	return u, nil
}

// redactURL drops userinfo so a mistaken URL with a password is never printed.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	return u.Redacted()
}

func parseKeys(ss []string) ([]signature.PublicKey, error) {
	keys := make([]signature.PublicKey, 0, len(ss))
	for _, s := range ss {
		k, err := narinfo.ParsePublicKey(s)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", s, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// Upstreams returns the upstreams in configuration order.
func (s *Set) Upstreams() []*Upstream {
	return append([]*Upstream(nil), s.ups...)
}

// MarkBad records that u served bytes for the path that do not match its
// narinfo. For an hour, lookups of that path prefer any other upstream that
// has it, but still use u when none does: corruption in transit is often
// transient. After maxBadTransfers bad transfers in a row u is no longer
// asked for the path; the lookup is then unavailable, not a miss, unless
// another upstream answers.
func (s *Set) MarkBad(u *Upstream, hashPart string) {
	n := s.bad.mark(u, hashPart, false, time.Now())
	u.m.badTransfers.WithLabelValues(u.name).Inc()
	u.log.Warn("upstream marked bad for path", "hash", hashPart, "bad_transfers", n,
		"excluded", n >= maxBadTransfers, "for", badPathTTL)
}

// MarkMissing records that u lacks the NAR its narinfo names for the path
// (or names it by a URL that is refused): for an hour lookups skip u for
// that path, as if it had answered 404.
func (s *Set) MarkMissing(u *Upstream, hashPart string) {
	s.bad.mark(u, hashPart, true, time.Now())
	u.m.badTransfers.WithLabelValues(u.name).Inc()
	u.log.Warn("upstream lacks the nar of a path; skipping it for the path", "hash", hashPart, "for", badPathTTL)
}

// MarkGood records a verified transfer of the path by u: earlier bad
// transfers no longer count against it.
func (s *Set) MarkGood(u *Upstream, hashPart string) {
	s.bad.clear(u, hashPart)
}

// Excluded reports whether lookups of the path skip u (MarkMissing, or too
// many bad transfers in a row).
func (s *Set) Excluded(u *Upstream, hashPart string) bool {
	mk := s.bad.get(u, hashPart, time.Now())
	return mk.missing || mk.count >= maxBadTransfers
}

// Name returns the upstream's base URL.
func (u *Upstream) Name() string { return u.name }

// String returns the upstream's base URL.
func (u *Upstream) String() string { return u.name }

// Status says whether the upstream is asked now ("answering") or backed
// off after failures to reach it, for the landing page.
func (u *Upstream) Status() string { return u.breaker.status() }

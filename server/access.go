package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/private-nix-cache/private-nix-cache/auth"
)

// AccessOptions say who may do what. The zero value asks for no token
// anywhere, as a public cache does.
type AccessOptions struct {
	// Tokens are the tokens accepted. With any, /metrics needs the
	// metrics scope and other methods than GET and HEAD the push scope;
	// nil or empty asks for none.
	Tokens *auth.Set
	// Private makes every read but /nix-cache-info need the read scope
	// (push implies it); false leaves reads open. Private without tokens
	// refuses every read.
	Private bool
	// Backoff tunes the refusal of addresses that keep presenting bad
	// credentials; the zero value takes auth's defaults.
	Backoff auth.BackoffOptions
}

// challenge is what browsers and curl show when asked for credentials.
const challenge = `Basic realm="private-nix-cache"`

// access checks each request's credentials against the scope it needs.
type access struct {
	opts    AccessOptions
	metrics bool // /metrics is served
	backoff *auth.Backoff
	log     *slog.Logger
	logged  logThrottle
	refused map[string]prometheus.Counter
	started prometheus.Counter
}

// Reasons a request is refused, as counted.
const (
	refusedMissing = "no-credentials"
	refusedBad     = "bad-credentials"
	refusedScope   = "scope"
	refusedBackoff = "backoff"
)

// newAccess returns nil when nothing needs a token, so that a public
// cache pays nothing per request.
func newAccess(opts AccessOptions, metricsServed bool, log *slog.Logger, reg prometheus.Registerer) *access {
	if opts.Tokens.Len() == 0 && !opts.Private {
		return nil
	}
	f := promauto.With(reg)
	refused := f.NewCounterVec(prometheus.CounterOpts{
		Name: "private_nix_cache_auth_refused_total",
		Help: "Requests refused for their credentials, by reason.",
	}, []string{"reason"})
	a := &access{
		opts:    opts,
		metrics: metricsServed,
		backoff: auth.NewBackoff(opts.Backoff),
		log:     log,
		logged:  logThrottle{every: time.Minute, burst: 20},
		refused: make(map[string]prometheus.Counter),
		started: f.NewCounter(prometheus.CounterOpts{
			Name: "private_nix_cache_auth_backoffs_total",
			Help: "Times an address was backed off after repeated bad credentials.",
		}),
	}
	for _, r := range []string{refusedMissing, refusedBad, refusedScope, refusedBackoff} {
		a.refused[r] = refused.WithLabelValues(r)
	}
	return a
}

// scopeFor returns the scope r needs, and false when it needs none.
func (a *access) scopeFor(r *http.Request) (auth.Scope, bool) {
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		return auth.Push, true
	case r.URL.Path == "/nix-cache-info":
		// Open for health checks, and because Nix 2.8 tries to PUT a
		// nix-cache-info it cannot read.
		return 0, false
	case r.URL.Path == "/metrics" && a.metrics:
		return auth.Metrics, true
	case a.opts.Private:
		return auth.Read, true
	}
	return 0, false
}

// tokenKey keys the token a request was let in with in its context.
type tokenKey struct{}

// tokenOf returns the token r was let in with: who sent it, for the
// handlers that need to know (an upload the server may sign); false when
// r needed none.
func tokenOf(r *http.Request) (auth.Token, bool) {
	tok, ok := r.Context().Value(tokenKey{}).(auth.Token)
	return tok, ok
}

// check answers r when its credentials do not allow it, and returns the
// status and body bytes written; denied is false when r may go on, as
// the returned request, which carries the token it matched (tokenOf).
func (a *access) check(w http.ResponseWriter, r *http.Request) (_ *http.Request, code, n int, denied bool) {
	need, ok := a.scopeFor(r)
	if !ok {
		return r, 0, 0, false
	}
	// A refused address is refused before its credentials are looked at:
	// answering them would go on telling right from wrong.
	addr := remoteAddr(r)
	if left, refused := a.backoff.Refused(addr); refused {
		a.refused[refusedBackoff].Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int((left+time.Second-1)/time.Second)))
		return r, http.StatusTooManyRequests, writeStatus(w, http.StatusTooManyRequests), true
	}
	secret, present := auth.Credential(r.Header)
	if !present {
		a.refused[refusedMissing].Inc()
		return a.challenge(w, r)
	}
	tok, found := a.opts.Tokens.Lookup(secret)
	if !found {
		a.refused[refusedBad].Inc()
		a.fail(r, addr)
		return a.challenge(w, r)
	}
	if !tok.Scopes.Allows(need) {
		a.refused[refusedScope].Inc()
		if a.logged.allow() {
			a.log.Warn("token lacks the scope", "token", tok.Name, "scope", need.String(), "path", r.URL.Path, "addr", addr.String())
		}
		return r, http.StatusForbidden, writeStatus(w, http.StatusForbidden), true
	}
	return r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)), 0, 0, false
}

func (a *access) challenge(w http.ResponseWriter, r *http.Request) (*http.Request, int, int, bool) {
	w.Header().Set("WWW-Authenticate", challenge)
	return r, http.StatusUnauthorized, writeStatus(w, http.StatusUnauthorized), true
}

// fail records bad credentials from addr. It logs the first of a streak
// and the start of a back-off, no more than the throttle lets through.
func (a *access) fail(r *http.Request, addr netip.Addr) {
	failures, started := a.backoff.Fail(addr)
	if started {
		a.started.Inc()
	}
	if (failures == 1 || started) && a.logged.allow() {
		a.log.Warn("bad credentials", "addr", addr.String(), "path", r.URL.Path,
			"failures", failures, "backoff", started, "unlogged", a.logged.takeSuppressed())
	}
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// logThrottle lets at most burst lines through per period, so that a
// flood of bad credentials cannot flood the log; it counts the others.
type logThrottle struct {
	every      time.Duration
	burst      int
	mu         sync.Mutex
	start      time.Time
	lines      int
	suppressed int
}

func (t *logThrottle) allow() bool {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.start) >= t.every {
		t.start, t.lines = now, 0
	}
	if t.lines >= t.burst {
		t.suppressed++
		return false
	}
	t.lines++
	return true
}

// takeSuppressed returns the lines dropped since it was last called.
func (t *logThrottle) takeSuppressed() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.suppressed
	t.suppressed = 0
	return n
}

package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// verdict is what one upstream said about one narinfo.
type verdict int

const (
	verdictFound     verdict = iota // verified narinfo
	verdictMiss                     // 404/410, 403/401 (also logged: see refused), or refused (bad signature)
	verdictTransient                // 5xx, timeout, reset, bad body: the path may exist
	verdictCanceled                 // the lookup ended before this upstream answered
)

type narInfoResult struct {
	verdict verdict
	ni      *narinfo.NarInfo
	err     error // why, for misses and transient failures
}

// lookupEvent is sent by the goroutine asking one upstream: first its
// priority (once known), then its result.
type lookupEvent struct {
	up       *Upstream
	priority int
	result   *narInfoResult // nil for the priority event
}

// Lookup asks every usable upstream in parallel for hashPart's narinfo and
// returns the verified one from the best upstream: one without bad
// transfers of the path (MarkBad) if any has it, then the lowest priority,
// then configuration order. It returns as soon as no better upstream can
// still answer. Errors: fs.ErrNotExist when every upstream said it has no
// such path (404; or 401/403, as Nix reads them, which are also warned about
// and counted as errors of kind auth), or refused its narinfo, or lacks its
// NAR (MarkMissing); ErrUnavailable, wrapping the reasons (ErrTimeout among
// them), when one failed transiently, is backing off or is excluded after
// too many bad transfers, and none had it.
func (s *Set) Lookup(ctx context.Context, hashPart string) (*Found, error) {
	if !narinfo.ValidHashPart(hashPart) {
		return nil, fmt.Errorf("lookup %q: invalid hash part: %w", hashPart, fs.ErrNotExist)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	r := &lookupRace{
		events:  make(chan lookupEvent, 2*len(s.ups)),
		prio:    make(map[*Upstream]int, len(s.ups)),
		pending: make(map[*Upstream]bool, len(s.ups)),
		bad:     make(map[*Upstream]int),
	}
	r.start(ctx, s, hashPart)
	for len(r.pending) > 0 {
		var ev lookupEvent
		select {
		case ev = <-r.events:
		case <-ctx.Done():
			return nil, fmt.Errorf("lookup %s: %w", hashPart, context.Cause(ctx))
		}
		if err := r.take(ev); err != nil {
			return nil, fmt.Errorf("lookup %s: %w", hashPart, err)
		}
		if r.best != nil && r.certain() {
			break
		}
	}
	if r.best != nil {
		return &Found{NarInfo: r.best.ni, Upstream: r.bestUp, BadTransfers: r.bad[r.bestUp]}, nil
	}
	if len(r.transient) > 0 {
		return nil, fmt.Errorf("lookup %s: %w: %w", hashPart, ErrUnavailable, errors.Join(r.transient...))
	}
	return nil, fmt.Errorf("lookup %s: %w", hashPart, fs.ErrNotExist)
}

// lookupRace is the state of one Lookup: the upstreams still to answer and
// the best answer so far.
type lookupRace struct {
	transient []error // reasons the answer may be incomplete
	events    chan lookupEvent
	prio      map[*Upstream]int // known priorities of pending upstreams
	pending   map[*Upstream]bool
	bad       map[*Upstream]int // bad transfers in a row of this path: last choice
	best      *narInfoResult
	bestUp    *Upstream
	bestPrio  int
}

// start asks every upstream that may be asked for hashPart.
func (r *lookupRace) start(ctx context.Context, s *Set, hashPart string) {
	now := time.Now()
	for _, u := range s.ups {
		switch mk := s.bad.get(u, hashPart, now); {
		case mk.missing:
			continue // counts as a miss: it lacks the NAR
		case mk.count >= maxBadTransfers:
			// Not a miss: the upstream has the path, its bytes were bad.
			r.transient = append(r.transient, fmt.Errorf("%s: %d bad transfers of this path in a row", u.name, mk.count))
			continue
		case mk.count > 0:
			r.bad[u] = mk.count
		}
		if !u.breaker.allow() {
			r.transient = append(r.transient, fmt.Errorf("%s: %w", u.name, u.breaker.backingOff()))
			continue
		}
		r.pending[u] = true
		if p, ok := u.knownPriority(); ok {
			r.prio[u] = p
		}
		go u.lookupAsync(ctx, hashPart, r.events, r.prio[u] == 0)
	}
}

// take records one event; an error ends the lookup.
func (r *lookupRace) take(ev lookupEvent) error {
	if ev.result == nil {
		r.prio[ev.up] = ev.priority
		return nil
	}
	delete(r.pending, ev.up)
	res := ev.result
	switch res.verdict {
	case verdictFound:
		if r.better(r.prio[ev.up], ev.up) {
			r.best, r.bestUp, r.bestPrio = res, ev.up, r.prio[ev.up]
		}
	case verdictTransient:
		r.transient = append(r.transient, fmt.Errorf("%s: %w", ev.up.name, res.err))
	case verdictCanceled:
		return res.err
	}
	return nil
}

// better reports whether u (of priority p) ranks before the current best:
// upstreams without bad transfers of the path first, then by priority,
// then by configuration order.
func (r *lookupRace) better(p int, u *Upstream) bool {
	switch {
	case r.best == nil:
		return true
	case (r.bad[u] > 0) != (r.bad[r.bestUp] > 0):
		return r.bad[u] == 0
	}
	return p < r.bestPrio || (p == r.bestPrio && u.index < r.bestUp.index)
}

// certain reports whether no pending upstream could still beat the best
// answer: all of them have a known, worse rank, or bad transfers of the
// path where the best has none.
func (r *lookupRace) certain() bool {
	for u := range r.pending {
		if r.bad[u] > 0 && r.bad[r.bestUp] == 0 {
			continue
		}
		p, ok := r.prio[u]
		if !ok || r.better(p, u) {
			return false
		}
	}
	return true
}

// lookupAsync asks u, reporting its priority (when not known beforehand)
// and then its answer on events. The priority comes from nix-cache-info,
// fetched in parallel with the narinfo.
func (u *Upstream) lookupAsync(ctx context.Context, hashPart string, events chan<- lookupEvent, needPriority bool) {
	var prioCh chan int
	if needPriority {
		prioCh = make(chan int, 1)
		go func() { prioCh <- u.resolvePriority(ctx) }()
	}
	r := u.fetchNarInfo(ctx, hashPart)
	if needPriority {
		events <- lookupEvent{up: u, priority: <-prioCh}
	}
	events <- lookupEvent{up: u, result: r}
}

// fetchNarInfo asks u for one narinfo and judges the answer, feeding u's
// breaker and metrics.
func (u *Upstream) fetchNarInfo(ctx context.Context, hashPart string) *narInfoResult {
	return lookupOnce(ctx, u, kindNarInfo, "hash", hashPart,
		func(ctx context.Context) (*narInfoResult, health) { return u.doNarInfo(ctx, hashPart) },
		func(r *narInfoResult) (verdict, error) { return r.verdict, r.err },
		func(err error) *narInfoResult { return &narInfoResult{verdict: verdictCanceled, err: err} })
}

// doNarInfo fetches and judges one narinfo; the health says what the
// exchange tells about the upstream.
func (u *Upstream) doNarInfo(ctx context.Context, hashPart string) (*narInfoResult, health) {
	target := u.name + "/" + hashPart + ".narinfo"
	transient := func(err error) *narInfoResult {
		return &narInfoResult{verdict: verdictTransient, err: err}
	}
	req, err := u.newRequest(ctx, target)
	if err != nil {
		return transient(err), healthUnknown
	}
	start := time.Now()
	resp, err := u.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: no answer within %s", ErrTimeout, u.lookupTimeout)
		}
		if !connectionFailure(err) {
			return transient(err), healthUnknown // a redirect loop, say: this path's
		}
		return transient(err), healthDown
	}
	defer resp.Body.Close()
	u.m.latency.WithLabelValues(u.name, kindNarInfo).Observe(time.Since(start).Seconds())
	switch {
	case resp.StatusCode == http.StatusOK:
	case isMissStatus(resp.StatusCode):
		return &narInfoResult{verdict: verdictMiss, err: &StatusError{URL: target, Code: resp.StatusCode}}, healthUp
	case isTransientStatus(resp.StatusCode):
		return transient(&StatusError{URL: target, Code: resp.StatusCode}), healthDown
	default:
		return transient(&StatusError{URL: target, Code: resp.StatusCode}), healthUp
	}
	body, err := readLimited(resp.Body, maxNarInfoSize)
	if errors.Is(err, errBodyTooLarge) {
		u.log.Warn("refusing upstream narinfo: too large", "hash", hashPart, "limit", maxNarInfoSize)
		return transient(fmt.Errorf("read narinfo: %w", err)), healthUp
	} else if err != nil {
		return transient(fmt.Errorf("read narinfo: %w", err)), healthDown
	}
	ni, err := narinfo.Parse(bytes.NewReader(body))
	if err != nil {
		// Transient, never a miss: a body cut by a proxy or a server
		// going down (an empty 200) says nothing about the path.
		return transient(fmt.Errorf("parse narinfo (%d bytes): %w", len(body), err)), healthUp
	}
	if got := ni.HashPart(); got != hashPart {
		return transient(fmt.Errorf("narinfo for %s names store path %q", hashPart, ni.StorePath)), healthUp
	}
	if n := ni.UnsignedSize(); n > maxUnsignedNarInfoSize {
		u.log.Warn("refusing upstream narinfo: unsigned fields too long", "path", ni.StorePath,
			"unsigned_bytes", n, "limit", maxUnsignedNarInfoSize)
		return transient(fmt.Errorf("narinfo for %s: %d bytes of unsigned fields, over %d", hashPart, n, maxUnsignedNarInfoSize)), healthUp
	}
	if !ni.Verify(u.keys) {
		u.m.sigRejections.WithLabelValues(u.name).Inc()
		u.log.Warn("refusing upstream narinfo: no trusted signature", "path", ni.StorePath, "sigs", len(ni.Sigs))
		return &narInfoResult{verdict: verdictMiss, err: errors.New("no trusted signature")}, healthUp
	}
	return &narInfoResult{verdict: verdictFound, ni: ni}, healthUp
}

func (v verdict) String() string {
	switch v {
	case verdictFound:
		return "found"
	case verdictMiss:
		return "miss"
	case verdictTransient:
		return "transient"
	case verdictCanceled:
		return "canceled"
	}
	return "unknown"
}

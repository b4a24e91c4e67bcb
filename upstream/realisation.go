package upstream

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

const (
	// kindRealisation labels realisation requests in the metrics.
	kindRealisation = "realisation"
	// maxRealisationSize bounds a .doi file read from an upstream. Nix's
	// take 300-600 bytes; a dependent realisation adds ~160.
	maxRealisationSize = 64 << 10
)

// errInvalidRealisationID is returned for ids Nix never asks.
var errInvalidRealisationID = errors.New("invalid realisation id")

// FoundRealisation is a verified realisation and the upstream that served it.
type FoundRealisation struct {
	Realisation *narinfo.Realisation
	Upstream    *Upstream
}

type realisationResult struct {
	verdict verdict
	r       *narinfo.Realisation
	err     error
}

// realisationAnswer is one upstream's answer, with its priority.
type realisationAnswer struct {
	up   *Upstream
	prio int
	res  *realisationResult
}

// Realisation asks every usable upstream in parallel for the realisation
// id (realisations/<id>.doi) and returns the one from the upstream of
// lowest priority, then first in the configuration, among those whose
// realisation a trusted key signed. It returns as soon as no better
// upstream can still answer. Errors: fs.ErrNotExist when every upstream
// said it has none (404, 401/403) or refused its realisation (no trusted
// signature); ErrUnavailable, wrapping the reasons, when one failed
// transiently (5xx, timeout, a body too large or unparsable) or is backing
// off, and none had it.
func (s *Set) Realisation(ctx context.Context, id string) (*FoundRealisation, error) {
	if !narinfo.ValidRealisationID(id) {
		return nil, fmt.Errorf("realisation %q: %w: %w", id, errInvalidRealisationID, fs.ErrNotExist)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan realisationAnswer, len(s.ups))
	pending := make(map[*Upstream]bool, len(s.ups))
	var transient []error
	for _, u := range s.ups {
		if !u.breaker.allow() {
			transient = append(transient, fmt.Errorf("%s: %w", u.name, u.breaker.backingOff()))
			continue
		}
		pending[u] = true
		go func() {
			prio := make(chan int, 1)
			go func() { prio <- u.resolvePriority(ctx) }()
			res := u.fetchRealisation(ctx, id)
			answers <- realisationAnswer{up: u, prio: <-prio, res: res}
		}()
	}
	var best *realisationAnswer
	for len(pending) > 0 && (best == nil || !realisationCertain(pending, best)) {
		var a realisationAnswer
		select {
		case a = <-answers:
		case <-ctx.Done():
			return nil, fmt.Errorf("realisation %s: %w", id, context.Cause(ctx))
		}
		delete(pending, a.up)
		switch a.res.verdict {
		case verdictFound:
			if best == nil || ranksBefore(a.prio, a.up, best.prio, best.up) {
				best = &a
			}
		case verdictTransient:
			transient = append(transient, fmt.Errorf("%s: %w", a.up.name, a.res.err))
		case verdictCanceled:
			return nil, fmt.Errorf("realisation %s: %w", id, a.res.err)
		}
	}
	switch {
	case best != nil:
		return &FoundRealisation{Realisation: best.res.r, Upstream: best.up}, nil
	case len(transient) > 0:
		return nil, fmt.Errorf("realisation %s: %w: %w", id, ErrUnavailable, errors.Join(transient...))
	}
	return nil, fmt.Errorf("realisation %s: %w", id, fs.ErrNotExist)
}

// ranksBefore orders upstreams by priority, then configuration order.
func ranksBefore(p int, u *Upstream, q int, v *Upstream) bool {
	return p < q || (p == q && u.index < v.index)
}

// realisationCertain reports whether no pending upstream could still beat
// best: each has a known priority that ranks after it.
func realisationCertain(pending map[*Upstream]bool, best *realisationAnswer) bool {
	for u := range pending {
		p, ok := u.knownPriority()
		if !ok || ranksBefore(p, u, best.prio, best.up) {
			return false
		}
	}
	return true
}

// fetchRealisation asks u for one realisation and judges the answer,
// feeding u's breaker and metrics.
func (u *Upstream) fetchRealisation(ctx context.Context, id string) *realisationResult {
	return lookupOnce(ctx, u, kindRealisation, "id", id,
		func(ctx context.Context) (*realisationResult, health) { return u.doRealisation(ctx, id) },
		func(r *realisationResult) (verdict, error) { return r.verdict, r.err },
		func(err error) *realisationResult { return &realisationResult{verdict: verdictCanceled, err: err} })
}

// doRealisation fetches and judges one realisation; the health says what
// the exchange tells about the upstream.
func (u *Upstream) doRealisation(ctx context.Context, id string) (*realisationResult, health) {
	// Ids hold no character a URL path must escape.
	target := u.name + "/realisations/" + id + ".doi"
	transient := func(err error) *realisationResult {
		return &realisationResult{verdict: verdictTransient, err: err}
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
			return transient(err), healthUnknown
		}
		return transient(err), healthDown
	}
	defer resp.Body.Close()
	u.m.latency.WithLabelValues(u.name, kindRealisation).Observe(time.Since(start).Seconds())
	switch {
	case resp.StatusCode == http.StatusOK:
	case isMissStatus(resp.StatusCode):
		return &realisationResult{verdict: verdictMiss, err: &StatusError{URL: target, Code: resp.StatusCode}}, healthUp
	case isTransientStatus(resp.StatusCode):
		return transient(&StatusError{URL: target, Code: resp.StatusCode}), healthDown
	default:
		return transient(&StatusError{URL: target, Code: resp.StatusCode}), healthUp
	}
	body, err := readLimited(resp.Body, maxRealisationSize)
	if errors.Is(err, errBodyTooLarge) {
		u.log.Warn("refusing upstream realisation: too large", "id", id, "limit", maxRealisationSize)
		return transient(fmt.Errorf("read realisation: %w", err)), healthUp
	} else if err != nil {
		return transient(fmt.Errorf("read realisation: %w", err)), healthDown
	}
	r, err := narinfo.ParseRealisation(id, body)
	if err != nil {
		// Transient, as for narinfos: a cut body says nothing about the id.
		return transient(fmt.Errorf("%w (%d bytes)", err, len(body))), healthUp
	}
	if !r.Verify(u.keys) {
		u.log.Warn("refusing upstream realisation: no trusted signature", "id", id, "sigs", len(r.Signatures))
		return &realisationResult{verdict: verdictMiss, err: errors.New("no trusted signature")}, healthUp
	}
	return &realisationResult{verdict: verdictFound, r: r}, healthUp
}

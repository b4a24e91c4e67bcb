package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/private-nix-cache/private-nix-cache/internal/flight"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// priorityRetry is how long an upstream whose nix-cache-info could not be
// read keeps the default priority before it is asked again.
const priorityRetry = time.Minute

// Priority returns the upstream's priority (lower wins): the configured one,
// else the one in its nix-cache-info (fetched once, bounded by
// Options.LookupTimeout), else 50.
func (u *Upstream) Priority() int {
	return u.resolvePriority(context.Background())
}

// knownPriority returns the priority without any network request.
func (u *Upstream) knownPriority() (int, bool) {
	u.prioMu.Lock()
	defer u.prioMu.Unlock()
	p, ok, _ := u.knownPriorityLocked()
	return p, ok
}

// knownPriorityLocked returns the priority if it is known, or the default
// and why while an unknown one must not be fetched again yet.
func (u *Upstream) knownPriorityLocked() (p int, ok bool, why error) {
	if u.prio > 0 {
		return u.prio, true, nil
	}
	if time.Now().Before(u.prioRetryAt) {
		return defaultPriority, true, u.prioErr
	}
	return 0, false, nil
}

// resolvePriority returns the priority, fetching nix-cache-info if it is
// not known yet (see awaitPriority).
func (u *Upstream) resolvePriority(ctx context.Context) int {
	p, _ := u.awaitPriority(ctx)
	return p
}

// awaitPriority returns the priority, fetching nix-cache-info if it is not
// known yet, and why it is the default when nix-cache-info could not be had.
// Concurrent callers share one fetch, which logs its failure; the fetch is
// not canceled with ctx (its answer is kept), but the caller stops waiting.
func (u *Upstream) awaitPriority(ctx context.Context) (int, error) {
	if p, ok, err := u.lockedKnownPriority(); ok {
		return p, err
	}
	_, err := u.prioFetch.Do(ctx, struct{}{}, func(fctx context.Context) (struct{}, error) {
		if _, ok, _ := u.lockedKnownPriority(); ok {
			return struct{}{}, nil // fetched by the call that just ended
		}
		p, err := u.fetchCacheInfoPriority(fctx)
		if err != nil {
			u.cacheInfoFailed(fctx, err, "priority", defaultPriority, "retry_in", priorityRetry)
		}
		u.prioMu.Lock()
		defer u.prioMu.Unlock()
		if err != nil {
			u.prioRetryAt = time.Now().Add(priorityRetry)
		} else {
			u.prio = p
		}
		u.prioErr = err
		return struct{}{}, nil
	})
	if errors.Is(err, flight.ErrLeft) {
		return defaultPriority, context.Cause(ctx)
	}
	if p, ok, err := u.lockedKnownPriority(); ok {
		return p, err
	}
	u.prioMu.Lock()
	defer u.prioMu.Unlock()
	return defaultPriority, u.prioErr
}

// lockedKnownPriority is knownPriorityLocked taking the lock.
func (u *Upstream) lockedKnownPriority() (p int, ok bool, why error) {
	u.prioMu.Lock()
	defer u.prioMu.Unlock()
	return u.knownPriorityLocked()
}

// cacheInfoFailed logs why nix-cache-info could not be had. A refusal
// (401/403) was logged already, where it was counted.
func (u *Upstream) cacheInfoFailed(ctx context.Context, err error, attrs ...any) {
	if _, ok := refusedStatus(err); ok {
		return
	}
	msg := "cannot read upstream nix-cache-info"
	if unreachable(err) {
		msg = "upstream unreachable for now"
	}
	u.log.Log(ctx, slog.LevelWarn, msg, append(attrs, "err", err)...)
}

// unreachable reports whether err says the upstream could not be reached or
// is failing (no answer, transport error, 5xx, 408, 429) rather than that it
// answered something unusable.
func unreachable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Transient()
	}
	var ue *url.Error
	return errors.Is(err, ErrTimeout) || errors.As(err, &ue)
}

func (u *Upstream) fetchCacheInfoPriority(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, u.lookupTimeout)
	defer cancel()
	target := u.name + "/nix-cache-info"
	req, err := u.newRequest(ctx, target)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := u.client.Do(req)
	if err != nil {
		u.m.errors.WithLabelValues(u.name, kindCacheInfo).Inc()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: no answer within %s (%w)", ErrTimeout, u.lookupTimeout, err)
		}
		return 0, fmt.Errorf("fetch nix-cache-info: %w", err)
	}
	defer resp.Body.Close()
	u.m.latency.WithLabelValues(u.name, kindCacheInfo).Observe(time.Since(start).Seconds())
	switch {
	case isRefusedStatus(resp.StatusCode):
		u.refused(ctx, kindCacheInfo, resp.StatusCode)
		return 0, &StatusError{URL: target, Code: resp.StatusCode}
	case resp.StatusCode != http.StatusOK:
		u.m.errors.WithLabelValues(u.name, kindCacheInfo).Inc()
		return 0, &StatusError{URL: target, Code: resp.StatusCode}
	}
	b, err := readLimited(resp.Body, maxCacheInfoSize)
	if err != nil {
		u.m.errors.WithLabelValues(u.name, kindCacheInfo).Inc()
		return 0, fmt.Errorf("read nix-cache-info: %w", err)
	}
	ci, err := narinfo.ParseCacheInfo(bytes.NewReader(b))
	if err != nil {
		u.m.errors.WithLabelValues(u.name, kindCacheInfo).Inc()
		return 0, fmt.Errorf("parse nix-cache-info: %w", err)
	}
	if ci.Priority <= 0 {
		// A missing or zero priority counts as unknown.
		return defaultPriority, nil
	}
	return ci.Priority, nil
}

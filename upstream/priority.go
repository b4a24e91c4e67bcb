package upstream

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

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
	if u.prio > 0 {
		return u.prio, true
	}
	if time.Now().Before(u.prioRetryAt) {
		return defaultPriority, true
	}
	return 0, false
}

// resolvePriority returns the priority, fetching nix-cache-info if it is
// not known yet. Concurrent callers share one fetch; the fetch is not
// canceled with ctx (its answer is kept), but the caller stops waiting.
func (u *Upstream) resolvePriority(ctx context.Context) int {
	if p, ok := u.knownPriority(); ok {
		return p
	}
	u.prioMu.Lock()
	if u.prioWait == nil {
		wait := make(chan struct{})
		u.prioWait = wait
		go func() {
			p, err := u.fetchCacheInfoPriority(context.WithoutCancel(ctx))
			u.prioMu.Lock()
			defer u.prioMu.Unlock()
			if err != nil {
				u.log.Warn("cannot read nix-cache-info, using default priority", "priority", defaultPriority, "err", err)
				u.prioRetryAt = time.Now().Add(priorityRetry)
			} else {
				u.prio = p
			}
			u.prioWait = nil
			close(wait)
		}()
	}
	wait := u.prioWait
	u.prioMu.Unlock()
	select {
	case <-wait:
	case <-ctx.Done():
		return defaultPriority
	}
	if p, ok := u.knownPriority(); ok {
		return p
	}
	return defaultPriority
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
		return 0, fmt.Errorf("fetch nix-cache-info: %w", err)
	}
	defer resp.Body.Close()
	u.m.latency.WithLabelValues(u.name, kindCacheInfo).Observe(time.Since(start).Seconds())
	if resp.StatusCode != http.StatusOK {
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

package upstream

import (
	"context"
	"sync"
)

// Probe asks every upstream for its nix-cache-info, in parallel, so that a
// refused token (401/403) or an unreachable upstream shows in the log at
// start instead of only as misses later. An upstream whose priority comes
// from nix-cache-info is asked through the fetch that learns it, never
// twice. Probe returns when every upstream has answered or timed out
// (Options.LookupTimeout), or when ctx ends; a caller that must not wait
// runs it in a goroutine. Nothing fails: lookups go on as before.
func (s *Set) Probe(ctx context.Context) {
	var wg sync.WaitGroup
	for _, u := range s.ups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u.probe(ctx)
		}()
	}
	wg.Wait()
}

// probe fetches u's nix-cache-info and logs the outcome; a refusal is
// logged (and counted) where it is seen.
func (u *Upstream) probe(ctx context.Context) {
	u.prioMu.Lock()
	p, known := u.prio, u.prio > 0 // configured, or learned already
	u.prioMu.Unlock()
	var err error
	if known {
		_, err = u.fetchCacheInfoPriority(ctx)
		if err != nil && ctx.Err() == nil {
			u.cacheInfoFailed(ctx, err)
		}
	} else {
		// The shared fetch logs its own failure.
		p, err = u.awaitPriority(ctx)
	}
	if err == nil {
		u.log.Info("upstream answers", "priority", p, "credentials", u.credentials)
	}
}

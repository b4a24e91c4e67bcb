package upstream

import (
	"sync"
	"time"
)

// Back-off after repeated transient failures, so a down upstream costs no
// time: after breakerThreshold consecutive failures the upstream is skipped
// for a while (doubling up to breakerMaxOpen); then one probe request is let
// through, and its outcome closes or re-opens the breaker.
const (
	breakerThreshold = 3
	breakerMinOpen   = 10 * time.Second
	breakerMaxOpen   = 2 * time.Minute
)

type breaker struct {
	mu       sync.Mutex
	failures int           // consecutive transient failures
	openFor  time.Duration // length of the current or last open period
	until    time.Time     // skip requests before this
	probing  bool          // a probe is in flight
	now      func() time.Time
}

func (b *breaker) clock() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}

// allow reports whether a request may be sent now. After an open period only
// one caller at a time gets true (the probe) until it reports its outcome.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures < breakerThreshold {
		return true
	}
	if b.clock().Before(b.until) || b.probing {
		return false
	}
	b.probing = true
	return true
}

// success closes the breaker.
func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures, b.openFor, b.probing = 0, 0, false
}

// failure counts a transient failure and opens the breaker when due. While
// it is open, further failures (requests that were already in flight) do not
// extend it: one outage, one period; only a failed probe doubles it.
func (b *breaker) failure() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	now := b.clock()
	if b.failures < breakerThreshold || now.Before(b.until) {
		return
	}
	b.probing = false
	switch {
	case b.openFor == 0:
		b.openFor = breakerMinOpen
	case b.openFor < breakerMaxOpen:
		b.openFor = min(2*b.openFor, breakerMaxOpen)
	}
	b.until = now.Add(b.openFor)
}

// done ends a request that produced no verdict (e.g. canceled by the
// caller), freeing the probe slot without judging the upstream.
func (b *breaker) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
}

// health is what one exchange says about an upstream.
type health int

const (
	healthUnknown health = iota // no verdict (canceled, could not build the request)
	healthUp                    // it answered (any status that is not a server failure)
	healthDown                  // transport error, timeout, 5xx, 408, 429
)

func (b *breaker) report(h health) {
	switch h {
	case healthUp:
		b.success()
	case healthDown:
		b.failure()
	default:
		b.done()
	}
}

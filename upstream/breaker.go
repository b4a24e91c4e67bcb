package upstream

import (
	"fmt"
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
	since    time.Time     // when the first period of the current outage began
	probing  bool          // a probe is in flight
	cause    error         // the last failure, for the errors of skipped requests
	now      func() time.Time
}

// breakerChange is what a report did to the breaker, for the log.
type breakerChange struct {
	opened   bool          // a back-off period began
	closed   bool          // the upstream answered after backing off
	failures int           // consecutive failures so far (opened) or before (closed)
	period   time.Duration // of the period that began (opened)
	outage   time.Duration // since the first period began (closed)
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

// backingOff is the error of a request the breaker skipped. It wraps the
// last failure, so that a skip after timeouts is still a timeout.
func (b *breaker) backingOff() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cause == nil {
		return fmt.Errorf("%w: backing off after %d failures", ErrUnavailable, b.failures)
	}
	return fmt.Errorf("%w: backing off after %d failures, the last: %w", ErrUnavailable, b.failures, b.cause)
}

// success closes the breaker.
func (b *breaker) success() breakerChange {
	b.mu.Lock()
	defer b.mu.Unlock()
	var c breakerChange
	if b.failures >= breakerThreshold {
		c = breakerChange{closed: true, failures: b.failures, outage: b.clock().Sub(b.since)}
	}
	b.failures, b.openFor, b.probing, b.cause = 0, 0, false, nil
	return c
}

// failure counts a transient failure and opens the breaker when due. While
// it is open, further failures (requests that were already in flight) do not
// extend it: one outage, one period; only a failed probe doubles it.
func (b *breaker) failure(cause error) breakerChange {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	b.cause = cause
	now := b.clock()
	if b.failures < breakerThreshold || now.Before(b.until) {
		return breakerChange{}
	}
	b.probing = false
	switch {
	case b.openFor == 0:
		b.openFor = breakerMinOpen
		b.since = now
	case b.openFor < breakerMaxOpen:
		b.openFor = min(2*b.openFor, breakerMaxOpen)
	}
	b.until = now.Add(b.openFor)
	return breakerChange{opened: true, failures: b.failures, period: b.openFor}
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

func (b *breaker) report(h health, cause error) breakerChange {
	switch h {
	case healthUp:
		return b.success()
	case healthDown:
		return b.failure(cause)
	}
	b.done()
	return breakerChange{}
}

// report feeds u's breaker with what one exchange said, logging when a
// back-off period begins or the upstream answers again after one.
func (u *Upstream) report(h health, cause error) {
	switch c := u.breaker.report(h, cause); {
	case c.opened:
		u.log.Warn("upstream failing; backing off", "failures", c.failures, "for", c.period, "err", cause)
	case c.closed:
		u.log.Info("upstream answers again; back-off ended", "failures", c.failures, "backed_off_for", c.outage.Round(time.Millisecond))
	}
}

// status says whether the upstream is asked now, for people: "answering",
// or how long it has been backed off after how many failures.
func (b *breaker) status() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures < breakerThreshold {
		return "answering"
	}
	return fmt.Sprintf("backing off after %d failures since %s", b.failures, b.since.UTC().Format(time.RFC3339))
}

package upstream

import (
	"sync"
	"time"
)

// warnEvery is how often an upstream may log a transient failure as a
// warning: during an outage every lookup fails, and one line in ten seconds
// says as much as thousands.
const warnEvery = 10 * time.Second

// throttle lets one event through per interval and counts the others.
type throttle struct {
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// allow reports whether an event at now may go through, and how many were
// held back since the last one that did.
func (t *throttle) allow(now time.Time, every time.Duration) (ok bool, suppressed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Before(t.next) {
		t.suppressed++
		return false, 0
	}
	t.next = now.Add(every)
	suppressed, t.suppressed = t.suppressed, 0
	return true, suppressed
}

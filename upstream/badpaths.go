package upstream

import (
	"sync"
	"time"
)

// badPathTTL is how long an upstream that served bad bytes for a path is
// skipped for that path.
const badPathTTL = time.Hour

// maxBadPaths bounds the memory of badPaths; beyond it the oldest marks go.
const maxBadPaths = 100_000

type badKey struct {
	up       *Upstream
	hashPart string
}

type badPaths struct {
	mu sync.Mutex
	m  map[badKey]time.Time // expiry
}

func (b *badPaths) mark(u *Upstream, hashPart string, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[badKey]time.Time{}
	}
	if len(b.m) >= maxBadPaths {
		b.pruneLocked(time.Now())
	}
	b.m[badKey{u, hashPart}] = until
}

// pruneLocked drops expired marks, and if that is not enough the ones
// closest to expiry.
func (b *badPaths) pruneLocked(now time.Time) {
	var oldest badKey
	var oldestAt time.Time
	for k, until := range b.m {
		if !now.Before(until) {
			delete(b.m, k)
			continue
		}
		if oldestAt.IsZero() || until.Before(oldestAt) {
			oldest, oldestAt = k, until
		}
	}
	if len(b.m) >= maxBadPaths {
		delete(b.m, oldest)
	}
}

func (b *badPaths) isBad(u *Upstream, hashPart string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.m[badKey{u, hashPart}]
	if !ok {
		return false
	}
	if !now.Before(until) {
		delete(b.m, badKey{u, hashPart})
		return false
	}
	return true
}

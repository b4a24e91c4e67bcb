package upstream

import (
	"sync"
	"time"
)

// badPathTTL is how long a bad transfer of a path is held against an
// upstream: meanwhile the upstream is the last choice for that path.
const badPathTTL = time.Hour

// maxBadTransfers is how many bad transfers of one path in a row (each
// within badPathTTL of the last) exclude an upstream from that path until
// the TTL runs out. Fewer only make it the last choice: corruption in
// transit is often transient, and a path must not vanish because of one.
const maxBadTransfers = 3

// maxBadPaths bounds the memory of badPaths; beyond it the oldest marks go.
const maxBadPaths = 100_000

type badKey struct {
	up       *Upstream
	hashPart string
}

type badMark struct {
	until   time.Time // expiry
	count   int       // bad transfers in a row
	missing bool      // the upstream lacks the NAR: skip it for the path
}

type badPaths struct {
	mu sync.Mutex
	m  map[badKey]badMark
}

// mark records one more bad transfer (or a missing NAR) and returns how
// many are in a row.
func (b *badPaths) mark(u *Upstream, hashPart string, missing bool, now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[badKey]badMark{}
	}
	k := badKey{u, hashPart}
	old, ok := b.m[k]
	if !ok && len(b.m) >= maxBadPaths {
		b.pruneLocked(now)
	}
	if !ok || !now.Before(old.until) {
		old = badMark{}
	}
	b.m[k] = badMark{until: now.Add(badPathTTL), count: old.count + 1, missing: old.missing || missing}
	return old.count + 1
}

// clear forgets the marks of a path after a good transfer.
func (b *badPaths) clear(u *Upstream, hashPart string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, badKey{u, hashPart})
}

// pruneLocked drops expired marks, and if that is not enough the ones
// closest to expiry.
func (b *badPaths) pruneLocked(now time.Time) {
	var oldest badKey
	var oldestAt time.Time
	for k, mk := range b.m {
		if !now.Before(mk.until) {
			delete(b.m, k)
			continue
		}
		if oldestAt.IsZero() || mk.until.Before(oldestAt) {
			oldest, oldestAt = k, mk.until
		}
	}
	if len(b.m) >= maxBadPaths {
		delete(b.m, oldest)
	}
}

// get returns the live mark of the path by u (zero: none).
func (b *badPaths) get(u *Upstream, hashPart string, now time.Time) badMark {
	b.mu.Lock()
	defer b.mu.Unlock()
	mk, ok := b.m[badKey{u, hashPart}]
	if !ok {
		return badMark{}
	}
	if !now.Before(mk.until) {
		delete(b.m, badKey{u, hashPart})
		return badMark{}
	}
	return mk
}

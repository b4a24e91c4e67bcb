package auth

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// BackoffOptions tune a Backoff. Zero values take the defaults named.
type BackoffOptions struct {
	// MaxFailures is how many bad credentials in a row start a back-off;
	// 0 means 10.
	MaxFailures int
	// Window is how long a streak of failures is remembered after its
	// last one; 0 means one minute.
	Window time.Duration
	// Duration is how long an address is refused once backed off; 0
	// means 30 seconds.
	Duration time.Duration
	// MaxAddrs bounds the addresses remembered, least recently failed
	// forgotten first; 0 means 4096 (a few hundred KiB).
	MaxAddrs int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Backoff refuses, for a while, the addresses that present bad
// credentials again and again, so that secrets cannot be guessed at the
// speed of the network. IPv6 addresses count per /64, what one host
// usually holds. It is safe for concurrent use.
type Backoff struct {
	opts  BackoffOptions
	mu    sync.Mutex
	byKey map[netip.Prefix]*list.Element
	lru   list.List // of *streak, most recently failed first
}

type streak struct {
	key      netip.Prefix
	failures int
	last     time.Time
	until    time.Time // refused before this; zero when not backed off
}

// NewBackoff makes a Backoff with opts.
func NewBackoff(opts BackoffOptions) *Backoff {
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = 10
	}
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	if opts.Duration <= 0 {
		opts.Duration = 30 * time.Second
	}
	if opts.MaxAddrs <= 0 {
		opts.MaxAddrs = 4096
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Backoff{opts: opts, byKey: make(map[netip.Prefix]*list.Element)}
}

func keyOf(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return netip.Prefix{} // an invalid address: all of them share one key
	}
	return p
}

// Refused reports whether addr is backed off, and for how much longer.
func (b *Backoff) Refused(addr netip.Addr) (time.Duration, bool) {
	now := b.opts.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.byKey[keyOf(addr)]
	if !ok {
		return 0, false
	}
	s := e.Value.(*streak)
	if left := s.until.Sub(now); left > 0 {
		return left, true
	}
	return 0, false
}

// Fail records bad credentials from addr. It returns the failures of the
// current streak, and started when this one began a back-off (the streak
// then starts again from zero).
func (b *Backoff) Fail(addr netip.Addr) (failures int, started bool) {
	now := b.opts.Now()
	key := keyOf(addr)
	b.mu.Lock()
	defer b.mu.Unlock()
	var s *streak
	if e, ok := b.byKey[key]; ok {
		s = e.Value.(*streak)
		b.lru.MoveToFront(e)
	} else {
		if b.lru.Len() >= b.opts.MaxAddrs {
			oldest := b.lru.Back()
			delete(b.byKey, oldest.Value.(*streak).key)
			b.lru.Remove(oldest)
		}
		s = &streak{key: key}
		b.byKey[key] = b.lru.PushFront(s)
	}
	if now.Sub(s.last) > b.opts.Window {
		s.failures = 0
	}
	s.last = now
	s.failures++
	if s.failures < b.opts.MaxFailures {
		return s.failures, false
	}
	s.until = now.Add(b.opts.Duration)
	failures, s.failures = s.failures, 0
	return failures, true
}

// Len is the number of addresses remembered.
func (b *Backoff) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lru.Len()
}

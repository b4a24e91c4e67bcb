package auth

import (
	"net/netip"
	"testing"
	"time"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) advance(d time.Duration) { c.now = c.now.Add(d) }
func newClockedBackoff(opts BackoffOptions) (*Backoff, *clock) {
	c := &clock{now: time.Unix(1e9, 0)}
	opts.Now = c.Now
	return NewBackoff(opts), c
}

func TestBackoffStartsAfterMaxFailures(t *testing.T) {
	b, c := newClockedBackoff(BackoffOptions{MaxFailures: 3, Window: time.Minute, Duration: 30 * time.Second})
	addr := netip.MustParseAddr("192.0.2.1")
	for i := 1; i < 3; i++ {
		if n, started := b.Fail(addr); n != i || started {
			t.Fatalf("failure %d: got %d %v", i, n, started)
		}
		if _, refused := b.Refused(addr); refused {
			t.Fatalf("refused after %d failures", i)
		}
	}
	if n, started := b.Fail(addr); n != 3 || !started {
		t.Fatalf("third failure: got %d %v", n, started)
	}
	if left, refused := b.Refused(addr); !refused || left != 30*time.Second {
		t.Fatalf("after the third: refused %v for %v", refused, left)
	}
	if _, refused := b.Refused(netip.MustParseAddr("192.0.2.2")); refused {
		t.Error("a neighbour is refused too")
	}
	c.advance(30 * time.Second)
	if _, refused := b.Refused(addr); refused {
		t.Error("still refused once the back-off is over")
	}
	if n, _ := b.Fail(addr); n != 1 {
		t.Errorf("the streak after a back-off starts at %d", n)
	}
}

func TestBackoffStreakForgotten(t *testing.T) {
	b, c := newClockedBackoff(BackoffOptions{MaxFailures: 3, Window: time.Minute})
	addr := netip.MustParseAddr("2001:db8::1")
	b.Fail(addr)
	b.Fail(addr)
	c.advance(time.Minute + time.Second)
	if n, started := b.Fail(addr); n != 1 || started {
		t.Errorf("after a quiet minute: got %d %v", n, started)
	}
	// Another address of the same /64 continues the streak.
	b.Fail(netip.MustParseAddr("2001:db8::2"))
	if _, started := b.Fail(netip.MustParseAddr("2001:db8::ffff:1")); !started {
		t.Error("addresses of one /64 are counted apart")
	}
	if _, refused := b.Refused(netip.MustParseAddr("2001:db8:0:1::1")); refused {
		t.Error("another /64 is refused")
	}
	// An IPv4-mapped address is its IPv4 address.
	b.Fail(netip.MustParseAddr("::ffff:192.0.2.9"))
	if n, _ := b.Fail(netip.MustParseAddr("192.0.2.9")); n != 2 {
		t.Errorf("mapped and plain IPv4 counted apart: %d", n)
	}
}

func TestBackoffBoundedMemory(t *testing.T) {
	b, _ := newClockedBackoff(BackoffOptions{MaxFailures: 2, MaxAddrs: 16})
	first := netip.MustParseAddr("10.0.0.0")
	b.Fail(first)
	b.Fail(first)
	addr := first
	for range 100 {
		addr = addr.Next()
		b.Fail(addr)
	}
	if n := b.Len(); n != 16 {
		t.Errorf("remembers %d addresses, want 16", n)
	}
	if _, refused := b.Refused(first); refused {
		t.Error("the least recently failed address is still remembered")
	}
	if n, _ := b.Fail(addr); n != 2 {
		t.Errorf("the most recent address lost its streak: %d", n)
	}
}

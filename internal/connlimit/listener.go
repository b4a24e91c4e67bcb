// Package connlimit caps the connections a listener hands out, in total and
// per remote address, and drops connections whose writes make no progress.
//
// A client that asks for a NAR and reads nothing otherwise holds a socket
// and a file open forever: net/http has no per-write timeout, and a global
// WriteTimeout would cut gigabyte bodies. Here every write chunk pushes the
// connection's write deadline forward, so only a stall ends it.
package connlimit

import (
	"net"
	"sync"
	"time"
)

// Options configure a Listener. The zero value limits nothing.
type Options struct {
	// Max is the most connections open at once; 0 means no limit. Over it,
	// a new connection takes the place of the one whose write has been
	// stalled longest (for at least MinStall); when none is stalled, the new
	// connection is closed at once. So clients that read nothing cannot keep
	// a health check from being answered.
	Max int
	// MaxPerAddr is the most connections from one remote IP address; 0
	// means no limit. Connections without an IP address (unix sockets) are
	// not counted. Over it, the new connection is closed at once.
	MaxPerAddr int
	// WriteStall closes a connection whose pending write has made no
	// progress for this long; 0 never does.
	WriteStall time.Duration
	// MinStall is how long a write must have been blocked before its
	// connection may be displaced by a new one; 0 means one second.
	MinStall time.Duration
}

// Listener wraps a net.Listener with the limits of Options.
type Listener struct {
	net.Listener
	opts Options

	mu      sync.Mutex
	conns   map[*conn]struct{}
	perAddr map[string]int
}

// NewListener wraps ln.
func NewListener(ln net.Listener, opts Options) *Listener {
	if opts.MinStall <= 0 {
		opts.MinStall = time.Second
	}
	return &Listener{Listener: ln, opts: opts, conns: make(map[*conn]struct{}), perAddr: make(map[string]int)}
}

// Accept returns the next connection within the limits; connections over
// them are closed without a word, which clients retry like any reset.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c, victim := l.admit(nc)
		if victim != nil {
			victim.Conn.Close()
		}
		if c != nil {
			return c, nil
		}
		nc.Close()
	}
}

// Open returns the number of connections currently open.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// admit registers nc, or returns nil when it is over a limit. victim, when
// not nil, was displaced to make room and must be closed by the caller.
func (l *Listener) admit(nc net.Conn) (c, victim *conn) {
	addr := remoteIP(nc)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opts.MaxPerAddr > 0 && addr != "" && l.perAddr[addr] >= l.opts.MaxPerAddr {
		return nil, nil
	}
	if l.opts.Max > 0 && len(l.conns) >= l.opts.Max {
		if victim = l.longestStalled(); victim == nil {
			return nil, nil
		}
		l.forgetLocked(victim)
	}
	c = &conn{Conn: nc, l: l, addr: addr, stall: l.opts.WriteStall}
	l.conns[c] = struct{}{}
	if addr != "" {
		l.perAddr[addr]++
	}
	return c, victim
}

// longestStalled returns the connection whose current write began longest
// ago, if that is at least MinStall ago.
func (l *Listener) longestStalled() *conn {
	var oldest *conn
	cutoff := time.Now().Add(-l.opts.MinStall).UnixNano()
	oldestSince := cutoff
	for c := range l.conns {
		if since := c.writingSince.Load(); since != 0 && since <= oldestSince {
			oldest, oldestSince = c, since
		}
	}
	return oldest
}

// forget releases c's place; it is called once per connection.
func (l *Listener) forget(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetLocked(c)
}

func (l *Listener) forgetLocked(c *conn) {
	if _, ok := l.conns[c]; !ok {
		return
	}
	delete(l.conns, c)
	if c.addr == "" {
		return
	}
	if l.perAddr[c.addr]--; l.perAddr[c.addr] <= 0 {
		delete(l.perAddr, c.addr)
	}
}

func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return ""
}

package connlimit

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// writeChunk is the most bytes one write deadline covers: a client that
// reads at least writeChunk per WriteStall is never dropped.
const writeChunk = 1 << 20

// conn is an admitted connection.
type conn struct {
	net.Conn
	l     *Listener
	addr  string
	stall time.Duration

	// writingSince is when the pending write chunk began, in Unix
	// nanoseconds; 0 while no write is pending.
	writingSince atomic.Int64
	closeOnce    sync.Once
}

func (c *conn) beginChunk() {
	now := time.Now()
	c.writingSince.Store(now.UnixNano())
	if c.stall > 0 {
		_ = c.Conn.SetWriteDeadline(now.Add(c.stall))
	}
}

func (c *conn) endWrite() { c.writingSince.Store(0) }

// Write writes p in chunks, each with a fresh deadline.
func (c *conn) Write(p []byte) (int, error) {
	defer c.endWrite()
	n := 0
	for len(p) > 0 {
		c.beginChunk()
		m, err := c.Conn.Write(p[:min(len(p), writeChunk)])
		n += m
		p = p[m:]
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// ReadFrom keeps the sendfile path of *net.TCPConn (net/http uses it for
// bodies copied from files) while renewing the deadline per chunk.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := c.Conn.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{c}, r)
	}
	defer c.endWrite()
	// A *io.LimitedReader is unwrapped, not nested: sendfile sees through
	// one level only.
	src, outer := r, (*io.LimitedReader)(nil)
	if lr, ok := r.(*io.LimitedReader); ok {
		src, outer = lr.R, lr
	}
	var total int64
	for {
		want := int64(writeChunk)
		if outer != nil {
			want = min(want, outer.N)
		}
		if want <= 0 {
			return total, nil
		}
		c.beginChunk()
		n, err := rf.ReadFrom(&io.LimitedReader{R: src, N: want})
		total += n
		if outer != nil {
			outer.N -= n
		}
		if err != nil || n < want {
			return total, err
		}
	}
}

// CloseWrite passes on a half-close, which net/http uses before closing.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close releases the connection's place under the limits.
func (c *conn) Close() error {
	c.closeOnce.Do(func() { c.l.forget(c) })
	return c.Conn.Close()
}

// writerOnly hides a ReadFrom method, so io.Copy does not loop into it.
type writerOnly struct{ io.Writer }

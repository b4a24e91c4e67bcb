package connlimit

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// listen starts a listener with opts whose accepted connections are handed
// to serve, each on its own goroutine.
func listen(t *testing.T, opts Options, serve func(net.Conn)) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(ln, opts)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return l
}

// dialFrom connects from the loopback address src.
func dialFrom(t *testing.T, src, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// greets writes one byte, then waits for the client to close.
func greets(c net.Conn) {
	defer c.Close()
	c.Write([]byte{'!'})
	io.Copy(io.Discard, c)
}

// greeted reports whether the server wrote its byte before closing.
func greeted(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var b [1]byte
	n, err := c.Read(b[:])
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("neither greeted nor closed")
	}
	return n == 1
}

func TestPerAddressCap(t *testing.T) {
	l := listen(t, Options{MaxPerAddr: 2}, greets)
	addr := l.Addr().String()
	for i, want := range []bool{true, true, false} {
		if got := greeted(t, dialFrom(t, "127.0.0.1", addr)); got != want {
			t.Errorf("connection %d from one address admitted = %v, want %v", i, got, want)
		}
	}
	if !greeted(t, dialFrom(t, "127.0.0.2", addr)) {
		t.Error("another address was refused")
	}
}

func TestTotalCapRefusesWhenNoneStalled(t *testing.T) {
	l := listen(t, Options{Max: 2}, greets)
	addr := l.Addr().String()
	for i, want := range []bool{true, true, false} {
		if got := greeted(t, dialFrom(t, "127.0.0.1", addr)); got != want {
			t.Errorf("connection %d admitted = %v, want %v", i, got, want)
		}
	}
}

// floods writes until the write fails, then closes.
func floods(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// stalledReader connects with a small receive buffer and reads nothing.
func stalledReader(t *testing.T, src, addr string) *net.TCPConn {
	t.Helper()
	c := dialFrom(t, src, addr)
	c.SetReadBuffer(4096)
	return c
}

// waitUntil polls cond for at most 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stalledCount counts the connections with a write pending.
func (l *Listener) stalledCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for c := range l.conns {
		if c.writingSince.Load() != 0 {
			n++
		}
	}
	return n
}

func TestStalledWriterDisplaced(t *testing.T) {
	l := listen(t, Options{Max: 2, MinStall: time.Millisecond}, func(c net.Conn) {
		if c.RemoteAddr().(*net.TCPAddr).IP.String() == "127.0.0.9" {
			greets(c)
			return
		}
		floods(c)
	})
	addr := l.Addr().String()
	stalledReader(t, "127.0.0.1", addr)
	stalledReader(t, "127.0.0.1", addr)
	waitUntil(t, "both writers stall", func() bool { return l.stalledCount() == 2 })
	if !greeted(t, dialFrom(t, "127.0.0.9", addr)) {
		t.Fatal("a new connection was refused while others were stalled")
	}
	if n := l.Open(); n != 2 {
		t.Errorf("open connections = %d, want 2", n)
	}
}

func TestWriteStallDrops(t *testing.T) {
	done := make(chan error, 1)
	l := listen(t, Options{WriteStall: 200 * time.Millisecond}, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				done <- err
				return
			}
		}
	})
	stalledReader(t, "127.0.0.1", l.Addr().String())
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("write ended with %v, want a deadline error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a stalled write was never dropped")
	}
	waitUntil(t, "its place is released", func() bool { return l.Open() == 0 })
}

func TestSlowProgressNotDropped(t *testing.T) {
	const total = 3 * writeChunk
	sent := make(chan int64, 1)
	l := listen(t, Options{WriteStall: 2 * time.Second}, func(c net.Conn) {
		defer c.Close()
		f, err := os.CreateTemp(t.TempDir(), "body")
		if err != nil {
			sent <- -1
			return
		}
		f.Write(make([]byte, total))
		f.Seek(0, 0)
		n, _ := c.(io.ReaderFrom).ReadFrom(&io.LimitedReader{R: f, N: total})
		f.Close()
		sent <- n
	})
	c := dialFrom(t, "127.0.0.1", l.Addr().String())
	// Reads in steps with pauses shorter than the stall timeout.
	var got int64
	buf := make([]byte, 256<<10)
	for got < total {
		time.Sleep(20 * time.Millisecond)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := c.Read(buf)
		got += int64(n)
		if err != nil {
			break
		}
	}
	if n := <-sent; n != total || got != total {
		t.Errorf("sent %d, received %d, want %d", n, got, total)
	}
}

package main

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// cutProxy sits between Nix and the server on loopback. It counts the
// bytes the server sends, keeps what clients send, and can cut the first
// response to a NAR request after cutAfter bytes, as a broken link would.
type cutProxy struct {
	ln       net.Listener
	target   string
	cutAfter int64 // 0 never cuts

	cut  atomic.Bool  // the one cut has happened
	wire atomic.Int64 // bytes from the server to clients

	mu   sync.Mutex
	sent bytes.Buffer // everything clients sent: request heads
}

func newCutProxy(t *testing.T, target string, cutAfter int64) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, cutAfter: cutAfter}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.relay(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return p
}

func (p *cutProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) requests() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent.String()
}

// relay copies one connection both ways until either side ends it.
func (p *cutProxy) relay(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer s.Close()
	var cutting atomic.Bool
	go func() {
		defer s.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				p.mu.Lock()
				p.sent.Write(buf[:n])
				p.mu.Unlock()
				if p.cutAfter > 0 && bytes.Contains(buf[:n], []byte("GET /nar/")) && !p.cut.Load() {
					cutting.Store(true)
				}
				if _, err := s.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	p.copyBack(c, s, &cutting)
}

// copyBack copies the server's bytes to the client; once cutting is set
// it lets cutAfter more bytes through, then closes both sides.
func (p *cutProxy) copyBack(c, s net.Conn, cutting *atomic.Bool) {
	buf := make([]byte, 32<<10)
	var left int64 = -1
	for {
		n, err := s.Read(buf)
		out := buf[:n]
		if left < 0 && cutting.Load() && p.cut.CompareAndSwap(false, true) {
			left = p.cutAfter
		}
		if left >= 0 && int64(len(out)) >= left {
			out = out[:left]
			err = io.EOF
		}
		if left >= 0 {
			left -= int64(len(out))
		}
		p.wire.Add(int64(len(out)))
		if _, werr := c.Write(out); werr != nil || err != nil {
			return
		}
	}
}

package localstore

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
)

func BenchmarkPathInfo(b *testing.B) {
	fx := nixtest.Build(b, nixtest.Options{BigSize: 1 << 20, Many: 1000})
	s := openSystemStore(b)
	ctx := context.Background()
	hashes := make([]string, len(fx.Paths))
	for i, p := range fx.Paths {
		hashes[i] = hashPart(p)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.PathInfo(ctx, hashes[i%len(hashes)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPathInfoParallel(b *testing.B) {
	fx := nixtest.Build(b, nixtest.Options{BigSize: 1 << 20, Many: 1000})
	s := openSystemStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.PathInfo(ctx, hashPart(fx.Paths[i%len(fx.Paths)])); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkWriteNAR dumps a 50 MB file. Compare with
// `nix-store --dump PATH > /dev/null` on the path it logs.
func BenchmarkWriteNAR(b *testing.B) {
	fx := nixtest.Build(b, nixtest.Options{BigSize: 50 << 20})
	s := openSystemStore(b)
	b.Logf("big path: %s", fx.Big)
	fi, err := os.Stat(fx.Big)
	if err != nil {
		b.Fatal(err)
	}

	narSize, err := s.WriteNAR(io.Discard, fx.Big)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("discard", func(b *testing.B) {
		b.SetBytes(fi.Size())
		for i := 0; i < b.N; i++ {
			if _, err := s.WriteNAR(io.Discard, fx.Big); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("devnull", func(b *testing.B) {
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(fi.Size())
		for i := 0; i < b.N; i++ {
			if _, err := s.WriteNAR(f, fx.Big); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("tcp", func(b *testing.B) {
		conn := loopbackConn(b)
		b.SetBytes(fi.Size())
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.WriteNAR(conn, fx.Big); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("http", func(b *testing.B) {
		// Through net/http: with Content-Length set, file bodies still
		// reach the socket by sendfile.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.FormatInt(narSize, 10))
			if _, err := s.WriteNAR(w, fx.Big); err != nil {
				panic(http.ErrAbortHandler)
			}
		}))
		defer srv.Close()
		buf := make([]byte, 1<<20)
		b.SetBytes(fi.Size())
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			resp, err := http.Get(srv.URL)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, buf)
			resp.Body.Close()
			if err != nil || n != narSize {
				b.Fatalf("read %d of %d bytes: %v", n, narSize, err)
			}
		}
	})

	b.Run("tree", func(b *testing.B) {
		// Many small files: the framing buffer and inlined bodies matter.
		fx := nixtest.Build(b, nixtest.Options{BigSize: 1 << 20, Many: 1000})
		conn := loopbackConn(b)
		b.ResetTimer()
		var n int64
		for i := 0; i < b.N; i++ {
			for _, p := range fx.Many {
				m, err := s.WriteNAR(conn, p)
				if err != nil {
					b.Fatal(err)
				}
				n += m
			}
		}
		b.ReportMetric(float64(len(fx.Many)), "paths/op")
	})
}

// loopbackConn returns the client side of a loopback TCP connection whose
// server side discards everything.
func loopbackConn(b *testing.B) *net.TCPConn {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		// A large buffer: io.Discard reads in 8 KiB steps, which would
		// make the receiving side the bottleneck.
		buf := make([]byte, 1<<20)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		c.Close()
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn.Close()
		<-done
	})
	return conn.(*net.TCPConn)
}

package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/localstore"
)

// benchServer serves a real chroot store made by Nix.
func benchServer(b *testing.B) (*Server, *nixtest.Fixture) {
	nixtest.Require(b)
	fx := nixtest.Build(b, nixtest.Options{BigSize: 50 << 20})
	st, err := localstore.Open(fx.ChrootStore(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	s := New(Options{Local: st, Keys: testKeys(b), Priority: 30})
	return s, fx
}

func hashOf(path string) string { return strings.SplitN(filepath.Base(path), "-", 2)[0] }

// BenchmarkLocalNarInfo measures a signed narinfo at the server: "cold"
// queries the database and signs, "warm" is a repeat.
func BenchmarkLocalNarInfo(b *testing.B) {
	s, fx := benchServer(b)
	target := "/" + hashOf(fx.Root) + ".narinfo"
	run := func(b *testing.B, forget bool) {
		req := httptest.NewRequest("GET", target, nil)
		for b.Loop() {
			if forget {
				s.local.forget(hashOf(fx.Root))
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		}
	}
	b.Run("cold", func(b *testing.B) { run(b, true) })
	b.Run("warm", func(b *testing.B) { run(b, false) })
}

// BenchmarkLocalNAR streams a 50 MB NAR over loopback TCP.
func BenchmarkLocalNAR(b *testing.B) {
	s, fx := benchServer(b)
	ts := httptest.NewServer(s)
	defer ts.Close()
	url := narURLOf(b, ts.URL, fx.Big)
	for b.Loop() {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		b.SetBytes(n)
	}
}

func narURLOf(b *testing.B, base, storePath string) string {
	resp, err := http.Get(base + "/" + hashOf(storePath) + ".narinfo")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if u, ok := strings.CutPrefix(line, "URL: "); ok {
			return base + "/" + u
		}
	}
	b.Fatalf("no URL in %q", body)
	return ""
}

package server

import (
	"crypto/tls"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLandingPage(t *testing.T) {
	keys := testKeys(t)
	s := New(Options{Local: &fakeStore{}, Keys: keys, Priority: 30, UpstreamNames: []string{"https://cache.nixos.org", "https://x.cachix.org"}})
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = "bastion:5000"
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	pub := keys[0].ToPublicKey().String()
	for _, want := range []string{
		`substituters = [ "http://bastion:5000" ];`,
		`trusted-public-keys = [ "` + pub + `" ];`,
		"https://cache.nixos.org", "https://x.cachix.org",
		"the Nix store of this machine",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "http-equiv", "src=\"http", "href=\"http"} {
		if strings.Contains(body, banned) {
			t.Errorf("page has %q: no scripts and no external assets", banned)
		}
	}

	req = httptest.NewRequest("GET", "/", nil)
	req.Host = "cache.example.org"
	req.TLS = &tls.ConnectionState{}
	rec = httptest.NewRecorder()
	New(Options{}).ServeHTTP(rec, req)
	if body := rec.Body.String(); !strings.Contains(body, `"https://cache.example.org"`) || !strings.Contains(body, "signs nothing") {
		t.Errorf("https, unsigned page:\n%s", body)
	}
	// The host comes from the request: it is escaped, never markup.
	req = httptest.NewRequest("GET", "/", nil)
	req.Host = `x"><b>`
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if strings.Contains(rec.Body.String(), "<b>") {
		t.Errorf("Host header rendered as markup")
	}
}

// With a Status, the page says how each upstream is doing and what the
// cache holds.
func TestLandingPageStatus(t *testing.T) {
	s := New(Options{Status: func() Status {
		return Status{
			Upstreams: []UpstreamStatus{{"https://cache.nixos.org", "answering"}, {"https://down.example", "backing off after 3 failures since 2026-12-02T07:00:00Z"}},
			Cache:     &CacheStatus{Bytes: 3 << 30, Files: 1234},
		}
	}})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body := rec.Body.String()
	for _, want := range []string{"https://cache.nixos.org", "answering", "backing off after 3 failures", "1234 NAR files, 3.0 GiB"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

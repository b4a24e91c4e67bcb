package server

import (
	"context"
	"encoding/base64"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/private-nix-cache/private-nix-cache/auth"
	"github.com/private-nix-cache/private-nix-cache/push"
)

const (
	readSecret    = "read-0123456789abcdef"
	pushSecret    = "push-0123456789abcdef"
	metricsSecret = "metrics-0123456789abcdef"
	wrongSecret   = "wrong-0123456789abcdef"
)

func testTokens(t *testing.T) *auth.Set {
	t.Helper()
	var tokens []auth.Token
	for _, tc := range []struct {
		name   string
		scopes auth.Scope
		secret string
	}{{"laptops", auth.Read, readSecret}, {"ci", auth.Push, pushSecret}, {"prometheus", auth.Metrics, metricsSecret}} {
		tok, err := auth.NewToken(tc.name, tc.scopes, tc.secret)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	s, err := auth.NewSet(tokens...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newAccessServer(t *testing.T, private bool) (*Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	st := &fakeStore{narBody: []byte("nar bytes"), logsText: "log\n"}
	return New(Options{
		Local: st, Keys: testKeys(t), Registerer: reg, Gatherer: reg,
		Access: AccessOptions{Tokens: testTokens(t), Private: private},
	}), reg
}

func basic(secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+secret))
}

func TestAccessMatrix(t *testing.T) {
	narinfo := "/" + testHash + ".narinfo"
	paths := []string{narinfo, "/nar/" + testHash + ".nar", "/" + testHash + ".ls", "/log/" + testHash + "-hello.drv", "/no-such-file"}
	for _, tc := range []struct {
		private bool
		method  string
		paths   []string
		auth    string
		want    int
	}{
		{true, "GET", []string{"/nix-cache-info"}, "", 200},
		{true, "GET", []string{"/nix-cache-info"}, basic(wrongSecret), 200},
		{true, "HEAD", paths, "", 401},
		{true, "GET", paths, "", 401},
		{true, "GET", paths, basic(wrongSecret), 401},
		{true, "GET", paths, "Bearer " + wrongSecret, 401},
		{true, "GET", paths, "Digest nonsense", 401},
		{true, "GET", paths, basic(metricsSecret), 403},
		{true, "GET", paths[:4], basic(readSecret), 200},
		{true, "GET", paths[:4], "Bearer " + readSecret, 200},
		{true, "GET", paths[:4], basic(pushSecret), 200},
		{true, "GET", paths[4:], basic(readSecret), 404},
		{false, "GET", paths[:4], "", 200},
		{false, "GET", paths[:4], basic(wrongSecret), 200},
		{true, "GET", []string{"/metrics"}, "", 401},
		{true, "GET", []string{"/metrics"}, basic(readSecret), 403},
		{false, "GET", []string{"/metrics"}, "", 401},
		{false, "GET", []string{"/metrics"}, basic(metricsSecret), 200},
		{false, "PUT", []string{narinfo}, "", 401},
		{false, "PUT", []string{narinfo}, basic(readSecret), 403},
		{false, "PUT", []string{narinfo}, basic(pushSecret), 405}, // allowed; no uploads yet
	} {
		s, _ := newAccessServer(t, tc.private)
		for _, p := range tc.paths {
			rec := do(t, s, tc.method, p, "Authorization", tc.auth)
			if rec.Code != tc.want {
				t.Errorf("private=%v %s %s with %q: got %d, want %d", tc.private, tc.method, p, tc.auth, rec.Code, tc.want)
			}
			if rec.Code == 401 || rec.Code == 403 {
				h := rec.Header()
				if h.Get("Cache-Control") != "no-store" {
					t.Errorf("%s %s: Cache-Control %q", tc.method, p, h.Get("Cache-Control"))
				}
				if got := h.Get("WWW-Authenticate"); (rec.Code == 401) != (got == challenge) {
					t.Errorf("%s %s: %d with WWW-Authenticate %q", tc.method, p, rec.Code, got)
				}
			}
		}
	}
}

func TestAccessNoTokensIsOpen(t *testing.T) {
	s := newTestServer(t, &fakeStore{narBody: []byte("x")})
	if s.access != nil {
		t.Fatal("a server without tokens checks credentials")
	}
	if rec := do(t, s, "GET", "/"+testHash+".narinfo", "Authorization", basic(wrongSecret)); rec.Code != 200 {
		t.Errorf("got %d", rec.Code)
	}
}

func TestAccessBackoff(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(Options{
		Local: &fakeStore{narBody: []byte("x")}, Keys: testKeys(t), Registerer: reg,
		Access: AccessOptions{Tokens: testTokens(t), Private: true, Backoff: auth.BackoffOptions{MaxFailures: 3}},
	})
	narinfo := "/" + testHash + ".narinfo"
	from := func(addr, authz string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", narinfo, nil)
		req.RemoteAddr = addr
		req.Header.Set("Authorization", authz)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	const attacker, other = "192.0.2.1:4000", "192.0.2.2:4000"
	// Missing credentials are no guess and do not count.
	for range 5 {
		from(attacker, "")
	}
	for i := range 3 {
		if rec := from(attacker, basic(wrongSecret)); rec.Code != 401 {
			t.Fatalf("wrong secret %d: %d", i, rec.Code)
		}
	}
	rec := from(attacker, basic(readSecret))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "30" {
		t.Errorf("backed off with the right secret: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := from(other, basic(readSecret)); rec.Code != 200 {
		t.Errorf("another address: %d", rec.Code)
	}
	for _, tc := range []struct {
		reason string
		want   float64
	}{{refusedMissing, 5}, {refusedBad, 3}, {refusedBackoff, 1}, {refusedScope, 0}} {
		if got := testutil.ToFloat64(s.access.refused[tc.reason]); got != tc.want {
			t.Errorf("refused{%s} = %v, want %v", tc.reason, got, tc.want)
		}
	}
	if got := testutil.ToFloat64(s.access.started); got != 1 {
		t.Errorf("backoffs = %v", got)
	}
	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues("narinfo", "401")); got != 8 {
		t.Errorf("narinfo 401s counted %v", got)
	}
}

func TestLogThrottle(t *testing.T) {
	lt := logThrottle{every: 1 << 62, burst: 2}
	var allowed int
	for range 10 {
		if lt.allow() {
			allowed++
		}
	}
	if allowed != 2 || lt.takeSuppressed() != 8 || lt.takeSuppressed() != 0 {
		t.Errorf("allowed %d", allowed)
	}
}

// BenchmarkNarInfoAccess measures what checking a token adds to a warm
// narinfo: "open" asks for none, "private" checks a Basic read token.
func BenchmarkNarInfoAccess(b *testing.B) {
	run := func(b *testing.B, access AccessOptions, authz string) {
		s := New(Options{Local: &fakeStore{narBody: []byte("x")}, Keys: testKeys(b), Access: access})
		req := httptest.NewRequest("GET", "/"+testHash+".narinfo", nil)
		req.Header.Set("Authorization", authz)
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		}
	}
	tok, err := auth.NewToken("laptops", auth.Read, readSecret)
	if err != nil {
		b.Fatal(err)
	}
	tokens, _ := auth.NewSet(tok)
	b.Run("open", func(b *testing.B) { run(b, AccessOptions{}, "") })
	b.Run("private", func(b *testing.B) { run(b, AccessOptions{Tokens: tokens, Private: true}, basic(readSecret)) })
}

// uploaderSpy is a Pusher that records who each narinfo came from.
type uploaderSpy struct{ by []push.Uploader }

func (p *uploaderSpy) PutNAR(string, io.Reader, int64) error { return nil }
func (p *uploaderSpy) PutNarInfo(_ context.Context, _ []byte, by push.Uploader) error {
	p.by = append(p.by, by)
	return nil
}
func (p *uploaderSpy) HasNAR(string) bool                           { return false }
func (p *uploaderSpy) NarInfo(string) (*push.Stored, error)         { return nil, fs.ErrNotExist }
func (p *uploaderSpy) OpenNAR(string, string) (push.NARFile, error) { return nil, fs.ErrNotExist }

// TestAccessTellsPushWhoUploads: the token the access check let an upload
// in with reaches the push handler, its sign scope with it.
func TestAccessTellsPushWhoUploads(t *testing.T) {
	signTok, err := auth.NewToken("builder", auth.Sign, "sign-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	pushTok, err := auth.NewToken("ci", auth.Push, pushSecret)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewSet(signTok, pushTok)
	if err != nil {
		t.Fatal(err)
	}
	spy := &uploaderSpy{}
	s := New(Options{Keys: testKeys(t), Push: spy, Access: AccessOptions{Tokens: tokens}})
	for _, secret := range []string{"sign-0123456789abcdef", pushSecret} {
		req := httptest.NewRequest("PUT", "/"+strings.Repeat("a", 32)+".narinfo", strings.NewReader("x"))
		req.Header.Set("Authorization", basic(secret))
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
		}
	}
	want := []push.Uploader{{Name: "builder", MaySign: true}, {Name: "ci"}}
	if !slices.Equal(spy.by, want) {
		t.Errorf("uploaders %+v, want %+v", spy.by, want)
	}
}

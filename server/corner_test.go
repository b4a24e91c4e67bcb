package server

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func writeChunks(w io.Writer, n int) error {
	chunk := bytes.Repeat([]byte(" "), 1<<10)
	for range n {
		if _, err := w.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

// A path deleted after its narinfo was served, before its NAR: 404, never
// a cut connection, and the path is not announced any more.
func TestNARVanishedBeforeHeaders(t *testing.T) {
	st := &fakeStore{narBody: []byte("0123456789")}
	s := newTestServer(t, st)
	if rec := do(t, s, "GET", "/"+testHash+".narinfo"); rec.Code != 200 {
		t.Fatalf("narinfo: %d", rec.Code)
	}
	st.vanished = true
	url := "/nar/" + testHash + "-" + nix32(st.narHash()) + ".nar"
	for _, rng := range []string{"", "bytes=3-"} {
		rec := do(t, s, "GET", url, "Range", rng)
		if rec.Code != 404 || rec.Header().Get("Content-Range") != "" || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("range %q: %d %v, want a plain 404", rng, rec.Code, rec.Header())
		}
	}
	queries := st.queries
	do(t, s, "GET", "/"+testHash+".narinfo")
	if st.queries == queries {
		t.Error("the vanished path is still remembered")
	}
	if rec := do(t, s, "GET", "/"+testHash+".ls"); rec.Code != 404 {
		t.Errorf("listing of a vanished path: %d, want 404", rec.Code)
	}
}

// An unusable row of the Nix database is "not here" with a warning: a 500
// would make Nix disable the whole cache.
func TestMalformedRowIs404(t *testing.T) {
	var logs bytes.Buffer
	st := &fakeStore{narBody: []byte("x"), malformed: true}
	s := New(Options{Local: st, Keys: testKeys(t), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if rec := do(t, s, "GET", "/"+testHash+".narinfo"); rec.Code != 404 {
		t.Errorf("narinfo of a malformed row: %d, want 404", rec.Code)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "malformed") {
		t.Errorf("no warning logged: %q", logs.String())
	}
}

// countingWriter records the writes a response gets.
type countingWriter struct {
	*httptest.ResponseRecorder
	writes, largest int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	w.largest = max(w.largest, len(p))
	return w.ResponseRecorder.Write(p)
}

// A listing is streamed as it is made, never held whole in memory.
func TestListingStreamed(t *testing.T) {
	st := &fakeStore{narBody: []byte("x"), listingChunks: 2048}
	s := newTestServer(t, st)
	w := &countingWriter{ResponseRecorder: httptest.NewRecorder()}
	s.ServeHTTP(w, httptest.NewRequest("GET", "/"+testHash+".ls", nil))
	if w.Code != 200 || w.Body.Len() != 2048<<10 {
		t.Fatalf("got %d with %d bytes", w.Code, w.Body.Len())
	}
	if w.writes < 2 || w.largest > 64<<10 {
		t.Errorf("%d writes, the largest %d bytes: the listing was buffered whole", w.writes, w.largest)
	}
	rec := do(t, s, "HEAD", "/"+testHash+".ls")
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestSuffixRange(t *testing.T) {
	st := &fakeStore{narBody: []byte("0123456789")}
	s := newTestServer(t, st)
	url := "/nar/" + testHash + "-" + nix32(st.narHash()) + ".nar"
	for rng, want := range map[string]string{"bytes=-1": "9", "bytes=-3": "789", "bytes=-20": "0123456789"} {
		rec := do(t, s, "GET", url, "Range", rng)
		if rec.Code != http.StatusPartialContent || rec.Body.String() != want {
			t.Errorf("%s: %d %q, want 206 %q", rng, rec.Code, rec.Body, want)
		}
		if got := rec.Header().Get("Content-Range"); !strings.HasSuffix(got, fmt.Sprintf("/%d", len(st.narBody))) {
			t.Errorf("%s: Content-Range %q", rng, got)
		}
	}
}

// A local path whose CA contradicts its NarHash is not signed and served.
func TestLocalCAContradictionRefused(t *testing.T) {
	st := &fakeStore{narBody: []byte("x")}
	st.ca = "fixed:r:sha256:" + nix32((&fakeStore{narBody: []byte("y")}).narHash())
	if rec := do(t, newTestServer(t, st), "GET", "/"+testHash+".narinfo"); rec.Code != 404 {
		t.Errorf("contradicting CA: %d, want 404", rec.Code)
	}
	st = &fakeStore{narBody: []byte("x")}
	st.ca = "fixed:r:sha256:" + nix32(st.narHash())
	if rec := do(t, newTestServer(t, st), "GET", "/"+testHash+".narinfo"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "CA: fixed:r:") {
		t.Errorf("matching CA: %d\n%s", rec.Code, rec.Body)
	}
}

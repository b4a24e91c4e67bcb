package server

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/localstore"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

const (
	testHash = "0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r"
	testPath = "/nix/store/" + testHash + "-hello"
)

// fakeStore is a local store with one path whose NAR is narBody.
type fakeStore struct {
	narBody  []byte
	gone     bool
	queries  int
	failNAR  bool
	logsText string
	// vanished makes WriteNAR and WriteListing fail before their first
	// byte, as for a path deleted since its narinfo was served.
	vanished bool
	// malformed makes PathInfo fail as for an unusable database row.
	malformed bool
	// ca is the path's CA field.
	ca string
	// listingChunks, when set, is how many 1 KiB writes the listing makes.
	listingChunks int
}

func (f *fakeStore) narHash() *nixhash.Hash {
	sum := sha256.Sum256(f.narBody)
	return nixhash.MustNewHash(nixhash.SHA256, sum[:])
}

func (f *fakeStore) PathInfo(_ context.Context, hashPart string) (*localstore.PathInfo, error) {
	f.queries++
	if f.malformed {
		return nil, fmt.Errorf("path info %s: %w: nar size 0", hashPart, localstore.ErrMalformed)
	}
	if hashPart != testHash || f.gone {
		return nil, fs.ErrNotExist
	}
	return &localstore.PathInfo{
		Path: testPath, NarHash: f.narHash(), NarSize: uint64(len(f.narBody)),
		References: []string{testHash + "-hello"}, Sigs: []string{"upstream-1:c2ln"}, CA: f.ca,
	}, nil
}

func (f *fakeStore) Exists(string) bool { return !f.gone }

func (f *fakeStore) WriteNAR(w io.Writer, _ string) (int64, error) {
	if f.vanished {
		return 0, fmt.Errorf("write nar: %w", fs.ErrNotExist)
	}
	body := f.narBody
	if f.failNAR {
		body = body[:len(body)/2]
	}
	n, err := w.Write(body)
	if err == nil && f.failNAR {
		err = fs.ErrNotExist
	}
	return int64(n), err
}

func (f *fakeStore) WriteListing(w io.Writer, _ string) error {
	if f.vanished {
		return fmt.Errorf("list: %w", fs.ErrNotExist)
	}
	if f.listingChunks > 0 {
		return writeChunks(w, f.listingChunks)
	}
	_, err := io.WriteString(w, `{"version":1,"root":{"type":"regular","size":5}}`)
	return err
}

func (f *fakeStore) OpenLog(drv string) (io.ReadCloser, error) {
	if f.logsText == "" {
		return nil, fs.ErrNotExist
	}
	return io.NopCloser(strings.NewReader(f.logsText)), nil
}

func testKeys(t testing.TB) []signature.SecretKey {
	t.Helper()
	sec, _, err := narinfo.GenerateKey("test-1", strings.NewReader(strings.Repeat("k", 64)))
	if err != nil {
		t.Fatal(err)
	}
	key, err := narinfo.ParseSecretKey([]byte(sec))
	if err != nil {
		t.Fatal(err)
	}
	return []signature.SecretKey{key}
}

func newTestServer(t *testing.T, st *fakeStore) *Server {
	t.Helper()
	return New(Options{Local: st, Keys: testKeys(t), Priority: 30})
}

func do(t *testing.T, h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestCacheInfo(t *testing.T) {
	s := newTestServer(t, &fakeStore{})
	rec := do(t, s, "GET", "/nix-cache-info")
	if rec.Code != 200 || rec.Body.String() != "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n" {
		t.Fatalf("got %d %q", rec.Code, rec.Body)
	}
	if rec := do(t, s, "HEAD", "/nix-cache-info"); rec.Code != 200 {
		t.Fatalf("HEAD: %d", rec.Code)
	}
}

func TestNarInfoSignedAndRemembered(t *testing.T) {
	st := &fakeStore{narBody: []byte("nar bytes")}
	s := newTestServer(t, st)
	rec := do(t, s, "GET", "/"+testHash+".narinfo")
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/x-nix-narinfo" {
		t.Errorf("content type %q", ct)
	}
	ni, err := narinfo.ParseBytes(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if ni.Compression != "none" || ni.NarSize != 9 || len(ni.Sigs) != 2 {
		t.Errorf("narinfo: %+v", ni)
	}
	pub, _ := narinfo.ParsePublicKey(publicOf(t))
	if !ni.Verify([]signature.PublicKey{pub}) {
		t.Error("our signature does not verify")
	}
	do(t, s, "GET", "/"+testHash+".narinfo")
	if st.queries != 1 {
		t.Errorf("a repeat asked the database again: %d queries", st.queries)
	}
	st.gone = true
	s.local.entries[testHash].checked.Store(0) // as if the last check were long ago
	if rec := do(t, s, "GET", "/"+testHash+".narinfo"); rec.Code != 404 {
		t.Errorf("collected path still announced: %d", rec.Code)
	}
}

func publicOf(t *testing.T) string {
	_, pub, err := narinfo.GenerateKey("test-1", strings.NewReader(strings.Repeat("k", 64)))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestNARURLForms(t *testing.T) {
	st := &fakeStore{narBody: []byte("0123456789")}
	s := newTestServer(t, st)
	nh := nix32(st.narHash())
	other := strings.Repeat("1", 52)
	for _, tc := range []struct {
		target string
		code   int
	}{
		{"/nar/" + testHash + "-" + nh + ".nar", 200},
		{"/nar/" + testHash + ".nar", 200},
		{"/nar/" + nh + ".nar?hash=" + testHash, 200},
		{"/nar/" + testHash + "-" + other + ".nar", 404}, // path changed
		{"/nar/" + other + ".nar?hash=" + testHash, 404},
		{"/nar/" + nh + ".nar", 404},
		{"/nar/../etc/passwd", 404},
		{"/nar/%2e%2e%2fetc%2fpasswd", 404},
		{"/nar/" + testHash + "%2F.nar", 404},
		{"/" + strings.Repeat("a", 5000) + ".narinfo", 404},
		{"/" + strings.ToUpper(testHash) + ".narinfo", 404},
		{"/nix-cache-info/x", 404},
		{"/anything", 404},
	} {
		rec := do(t, s, "GET", tc.target)
		if rec.Code != tc.code {
			t.Errorf("%s: %d, want %d", tc.target, rec.Code, tc.code)
			continue
		}
		if tc.code == 200 && rec.Body.String() != "0123456789" {
			t.Errorf("%s: body %q", tc.target, rec.Body)
		}
		if tc.code == 404 && rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: 404 without no-store", tc.target)
		}
	}
}

func TestNARHeadersAndRanges(t *testing.T) {
	st := &fakeStore{narBody: []byte("0123456789")}
	s := newTestServer(t, st)
	url := "/nar/" + testHash + "-" + nix32(st.narHash()) + ".nar"

	rec := do(t, s, "HEAD", url)
	if rec.Code != 200 || rec.Header().Get("Content-Length") != "10" || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
	if rec.Header().Get("Accept-Ranges") != "bytes" || rec.Header().Get("Content-Encoding") != "" {
		t.Errorf("headers: %v", rec.Header())
	}
	for _, tc := range []struct{ rng, body, cr string }{
		{"bytes=4-", "456789", "bytes 4-9/10"},
		{"bytes=2-3", "23", "bytes 2-3/10"},
		{"bytes=-3", "789", "bytes 7-9/10"},
		{"bytes=8-100", "89", "bytes 8-9/10"},
	} {
		rec := do(t, s, "GET", url, "Range", tc.rng)
		if rec.Code != 206 || rec.Body.String() != tc.body || rec.Header().Get("Content-Range") != tc.cr {
			t.Errorf("%s: %d %q %q", tc.rng, rec.Code, rec.Body, rec.Header().Get("Content-Range"))
		}
	}
	if rec := do(t, s, "GET", url, "Range", "bytes=10-"); rec.Code != 416 {
		t.Errorf("unsatisfiable: %d", rec.Code)
	}
	if rec := do(t, s, "GET", url, "Range", "bytes=0-1,4-5"); rec.Code != 200 || rec.Body.Len() != 10 {
		t.Errorf("multi-range must fall back to the whole body: %d", rec.Code)
	}
}

func TestNARFailureAborts(t *testing.T) {
	st := &fakeStore{narBody: []byte("0123456789"), failNAR: true}
	s := newTestServer(t, st)
	url := "/nar/" + testHash + "-" + nix32(st.narHash()) + ".nar"
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", r)
		}
	}()
	do(t, s, "GET", url)
	t.Fatal("a half NAR ended as a normal response")
}

func TestListingAndLog(t *testing.T) {
	st := &fakeStore{narBody: []byte("x"), logsText: "build output\n"}
	s := newTestServer(t, st)
	if rec := do(t, s, "GET", "/"+testHash+".ls"); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"version":1`) {
		t.Errorf(".ls: %d %q", rec.Code, rec.Body)
	}
	drv := "/log/" + testHash + "-hello.drv"
	if rec := do(t, s, "GET", drv); rec.Code != 200 || rec.Body.String() != "build output\n" {
		t.Errorf("log: %d %q", rec.Code, rec.Body)
	}
	if rec := do(t, s, "GET", "/log/..%2f..%2fetc%2fpasswd"); rec.Code != 404 {
		t.Errorf("hostile log name: %d", rec.Code)
	}
	st.logsText = ""
	if rec := do(t, s, "GET", drv); rec.Code != 404 {
		t.Errorf("missing log: %d", rec.Code)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	s := newTestServer(t, &fakeStore{})
	if rec := do(t, s, "PUT", "/nix-cache-info"); rec.Code != 405 {
		t.Errorf("PUT: %d", rec.Code)
	}
}

type gatewayError struct{}

func (gatewayError) Error() string   { return "upstream failed" }
func (gatewayError) HTTPStatus() int { return http.StatusBadGateway }

func TestErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{fs.ErrNotExist, 404},
		{errBadRequest, 400},
		{fmt.Errorf("fetch: %w", gatewayError{}), 502},
		{io.ErrUnexpectedEOF, 500},
	} {
		rec := httptest.NewRecorder()
		writeError(rec, tc.err)
		if rec.Code != tc.code || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%v: %d %q, want %d no-store", tc.err, rec.Code, rec.Header().Get("Cache-Control"), tc.code)
		}
	}
}

func TestLocalMissRemembered(t *testing.T) {
	st := &fakeStore{narBody: []byte("x")}
	s := newTestServer(t, st)
	other := "/" + strings.Repeat("1", 32) + ".narinfo"
	do(t, s, "GET", other)
	do(t, s, "GET", other)
	if st.queries != 1 {
		t.Errorf("a repeated miss asked the database %d times", st.queries)
	}
	s.local.misses[strings.Repeat("1", 32)] = 0 // as if it had expired
	do(t, s, "GET", other)
	if st.queries != 2 {
		t.Errorf("an expired miss was not asked again: %d queries", st.queries)
	}
}

package server

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

func newZstdServer(t *testing.T, st *fakeStore) *Server {
	t.Helper()
	return New(Options{Local: st, Keys: testKeys(t), Priority: 30, LocalCompression: CompressionZstd})
}

func unzstd(t *testing.T, b []byte) []byte {
	t.Helper()
	d, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(d); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return out.Bytes()
}

func TestParseLocalNARNameZstd(t *testing.T) {
	nh := strings.Repeat("1", narinfo.Nix32SHA256Len)
	for _, tc := range []struct {
		name, query string
		want        localNARRef
		ok          bool
	}{
		{testHash + "-" + nh + ".nar.zst", "", localNARRef{testHash, nh, true}, true},
		{testHash + "-" + nh + ".nar", "", localNARRef{testHash, nh, false}, true},
		{testHash + ".nar.zst", "", localNARRef{testHash, "", true}, true},
		{nh + ".nar.zst", testHash, localNARRef{testHash, nh, true}, true},
		{testHash + "-" + nh + ".zst", "", localNARRef{}, false},
		{testHash + "-" + nh + ".nar.zst.zst", "", localNARRef{}, false},
		{testHash + "-" + nh + ".nar.xz", "", localNARRef{}, false},
		{testHash + "_" + nh + ".nar.zst", "", localNARRef{}, false},
	} {
		got, ok := parseLocalNARName(tc.name, tc.query)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("%s?%s: %+v %v, want %+v %v", tc.name, tc.query, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNarInfoZstd(t *testing.T) {
	st := &fakeStore{narBody: []byte("nar bytes")}
	rec := do(t, newZstdServer(t, st), "GET", "/"+testHash+".narinfo")
	ni, err := narinfo.ParseBytes(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	wantURL := "nar/" + testHash + "-" + nix32(st.narHash()) + ".nar.zst"
	if ni.Compression != "zstd" || ni.URL != wantURL || ni.FileHash != nil || ni.FileSize != 0 {
		t.Errorf("narinfo:\n%s", rec.Body)
	}
	pub, _ := narinfo.ParsePublicKey(publicOf(t))
	if !ni.Verify([]signature.PublicKey{pub}) {
		t.Error("our signature does not verify")
	}
}

func TestZstdNAR(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 50000)
	st := &fakeStore{narBody: body}
	nh := nix32(st.narHash())
	// The server announces none: .nar.zst URLs handed out before a
	// switch keep working.
	for _, s := range []*Server{newZstdServer(t, st), newTestServer(t, st)} {
		for _, target := range []string{
			"/nar/" + testHash + "-" + nh + ".nar.zst",
			"/nar/" + testHash + ".nar.zst",
			"/nar/" + nh + ".nar.zst?hash=" + testHash,
		} {
			// A Range cannot be honoured on a stream made on the fly: the
			// whole body, never other bytes.
			rec := do(t, s, "GET", target, "Range", "bytes=10-")
			h := rec.Header()
			if rec.Code != 200 || h.Get("Accept-Ranges") != "" || h.Get("Content-Length") != "" ||
				h.Get("Content-Encoding") != "" || h.Get("Content-Range") != "" {
				t.Fatalf("%s: %d %v", target, rec.Code, h)
			}
			if rec.Body.Len() >= len(body)/10 {
				t.Errorf("%s: %d compressed bytes for %d", target, rec.Body.Len(), len(body))
			}
			if got := unzstd(t, rec.Body.Bytes()); !bytes.Equal(got, body) {
				t.Errorf("%s: decoded %d bytes, want the %d of the NAR", target, len(got), len(body))
			}
		}
	}
	s := newZstdServer(t, st)
	uncompressed := "/nar/" + testHash + "-" + nh + ".nar"
	if rec := do(t, s, "GET", uncompressed, "Range", "bytes=10-"); rec.Code != 206 || !bytes.Equal(rec.Body.Bytes(), body[10:]) {
		t.Errorf("uncompressed URL with zstd announced: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	if rec := do(t, s, "GET", "/nar/"+testHash+"-"+strings.Repeat("1", 52)+".nar.zst"); rec.Code != 404 {
		t.Errorf("changed path: %d, want 404", rec.Code)
	}
}

func TestZstdNARHead(t *testing.T) {
	st := &fakeStore{narBody: []byte("0123456789")}
	s := newZstdServer(t, st)
	url := "/nar/" + testHash + "-" + nix32(st.narHash()) + ".nar.zst"
	rec := do(t, s, "HEAD", url)
	h := rec.Header()
	if rec.Code != 200 || h.Get("Content-Length") != "" || h.Get("Accept-Ranges") != "" || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d %v %q", rec.Code, h, rec.Body)
	}
	// net/http itself must not add a length either.
	ts := httptest.NewServer(s)
	defer ts.Close()
	resp, err := ts.Client().Head(ts.URL + url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != -1 || resp.Header.Get("Accept-Ranges") != "" {
		t.Errorf("HEAD over HTTP: %d, length %d, %v", resp.StatusCode, resp.ContentLength, resp.Header)
	}
	st.gone = true
	if rec := do(t, s, "HEAD", url); rec.Code != 404 {
		t.Errorf("HEAD of a collected path: %d, want 404", rec.Code)
	}
}

// A NAR that fails before anything went out is a 404; one that fails
// after is cut, its frame never ended, so no client takes it as whole.
func TestZstdNARFailure(t *testing.T) {
	st := &fakeStore{narBody: []byte("0123456789"), vanished: true}
	url := "/nar/" + testHash + "-" + nix32(st.narHash()) + ".nar.zst"
	if rec := do(t, newZstdServer(t, st), "GET", url); rec.Code != 404 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("vanished: %d %v", rec.Code, rec.Header())
	}

	big := make([]byte, 4<<20) // random: blocks go out as they fill
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	st = &fakeStore{narBody: big, failNAR: true}
	url = "/nar/" + testHash + "-" + nix32(st.narHash()) + ".nar.zst"
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", r)
		}
	}()
	do(t, newZstdServer(t, st), "GET", url)
	t.Fatal("a half NAR ended as a normal response")
}

package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream"
)

// extrasMirror serves one listing and one log, and counts the requests.
type extrasMirror struct {
	unavailableMirror
	listing, log string
	asked        int
}

func (m *extrasMirror) NarInfo(context.Context, string) (*narinfo.NarInfo, error) {
	return nil, fs.ErrNotExist
}

func (m *extrasMirror) Listing(_ context.Context, hashPart string) (io.ReadSeekCloser, error) {
	m.asked++
	if m.listing == "" {
		return nil, fmt.Errorf("listing %s: %w: %w", hashPart, fs.ErrNotExist, upstream.ErrUnavailable)
	}
	return nopSeekCloser{bytes.NewReader([]byte(m.listing))}, nil
}

func (m *extrasMirror) Log(_ context.Context, drv string) (io.ReadSeekCloser, error) {
	m.asked++
	if m.log == "" {
		return nil, fmt.Errorf("log %s: %w", drv, fs.ErrNotExist)
	}
	return nopSeekCloser{bytes.NewReader([]byte(m.log))}, nil
}

type nopSeekCloser struct{ *bytes.Reader }

func (nopSeekCloser) Close() error { return nil }

func TestExtrasLocalFirstThenMirror(t *testing.T) {
	const otherHash = "1a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r"
	mx := &extrasMirror{listing: `{"version":1,"root":{"type":"symlink","target":"x"}}`, log: "mirrored log\n"}
	st := &fakeStore{narBody: []byte("nar"), logsText: "local log\n"}
	s := New(Options{Local: st, Mirror: mx})

	rec := do(t, s, "GET", "/"+testHash+".ls")
	if rec.Code != 200 || !bytes.Contains(rec.Body.Bytes(), []byte(`"size":5`)) || mx.asked != 0 {
		t.Errorf("local listing: %d %q, mirror asked %d times", rec.Code, rec.Body, mx.asked)
	}
	rec = do(t, s, "GET", "/"+otherHash+".ls")
	if rec.Code != 200 || rec.Body.String() != mx.listing || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("mirrored listing: %d %q (%s)", rec.Code, rec.Body, rec.Header().Get("Content-Type"))
	}
	rec = do(t, s, "HEAD", "/"+otherHash+".ls")
	if rec.Code != 200 || rec.Header().Get("Content-Length") != fmt.Sprint(len(mx.listing)) {
		t.Errorf("HEAD mirrored listing: %d, Content-Length %q", rec.Code, rec.Header().Get("Content-Length"))
	}

	drv := otherHash + "-x.drv"
	rec = do(t, s, "GET", "/log/"+drv)
	if rec.Code != 200 || rec.Body.String() != "local log\n" {
		t.Errorf("local log: %d %q", rec.Code, rec.Body)
	}
	st.logsText = ""
	rec = do(t, s, "GET", "/log/"+drv)
	if rec.Code != 200 || rec.Body.String() != "mirrored log\n" || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("mirrored log: %d %q (%s)", rec.Code, rec.Body, rec.Header().Get("Content-Type"))
	}

	mx.listing, mx.log = "", ""
	rec = do(t, s, "GET", "/"+otherHash+".ls")
	if rec.Code != http.StatusNotFound || rec.Header().Get(UpstreamHeader) != "unavailable" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("listing, upstream unavailable: %d, %v", rec.Code, rec.Header())
	}
	if rec = do(t, s, "GET", "/log/"+drv); rec.Code != http.StatusNotFound {
		t.Errorf("missing log: %d", rec.Code)
	}
	asked := mx.asked
	for _, bad := range []string{"/log/x.drv", "/log/" + otherHash, "/short.ls"} {
		if rec = do(t, s, "GET", bad); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", bad, rec.Code)
		}
	}
	if mx.asked != asked {
		t.Error("malformed names reached the mirror")
	}
}

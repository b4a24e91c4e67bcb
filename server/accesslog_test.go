package server

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream"
)

func TestAccessLogOneLinePerRequest(t *testing.T) {
	var buf bytes.Buffer
	st := &fakeStore{narBody: []byte("nar bytes")}
	s := New(Options{Local: st, Keys: testKeys(t), AccessLog: slog.New(slog.NewTextHandler(&buf, nil))})
	do(t, s, "GET", "/"+testHash+".narinfo")
	do(t, s, "GET", "/nix-cache-info")
	do(t, s, "GET", "/nope")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	for i, want := range [][]string{
		{"msg=request", "method=GET", "path=/" + testHash + ".narinfo", "status=200", "bytes=", "duration=", "cache=LOCAL"},
		{"path=/nix-cache-info", "status=200", "bytes=50"},
		{"path=/nope", "status=404"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
		if i > 0 && strings.Contains(lines[i], "cache=") {
			t.Errorf("line %d names a cache outcome for what no cache answered: %q", i, lines[i])
		}
	}
}

func TestAccessLogRepeatsCacheOutcome(t *testing.T) {
	var buf bytes.Buffer
	h := logAccess(slog.New(slog.NewTextHandler(&buf, nil)), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(CacheOutcomeHeader, "HIT")
		w.Write([]byte("x"))
	})
	do(t, h, "GET", "/nar/mirror/x.nar")
	if got := buf.String(); !strings.Contains(got, "cache=HIT") || !strings.Contains(got, "bytes=1") {
		t.Errorf("log %q lacks cache=HIT bytes=1", got)
	}
}

func TestNoAccessLogByDefault(t *testing.T) {
	var buf bytes.Buffer
	s := New(Options{Local: &fakeStore{}, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	do(t, s, "GET", "/nix-cache-info")
	if buf.Len() != 0 {
		t.Errorf("logged without an access log: %q", buf.String())
	}
}

// unavailableMirror fails every lookup the way the mirror does when no
// upstream could be asked: a miss for Nix, but not a cached one.
type unavailableMirror struct{}

func (unavailableMirror) NarInfo(context.Context, string) (*narinfo.NarInfo, error) {
	return nil, fmt.Errorf("lookup: %w: %w", fs.ErrNotExist, upstream.ErrUnavailable)
}

func (unavailableMirror) OpenNAR(context.Context, string, bool) (MirrorNAR, error) {
	return nil, fmt.Errorf("nar: %w", upstream.ErrUnavailable)
}

func TestUnavailableUpstreamSaysSo(t *testing.T) {
	s := New(Options{Mirror: unavailableMirror{}})
	rec := do(t, s, "GET", "/"+strings.Repeat("1", narinfo.HashPartLen)+".narinfo")
	if rec.Code != 404 || rec.Header().Get(UpstreamHeader) != "unavailable" {
		t.Errorf("narinfo: %d %s=%q, want 404 unavailable", rec.Code, UpstreamHeader, rec.Header().Get(UpstreamHeader))
	}
	// The same failure on a NAR: a 502, which Nix retries.
	rec = do(t, s, "GET", "/nar/mirror/"+strings.Repeat("1", narinfo.HashPartLen)+"-x.nar")
	if rec.Code != http.StatusBadGateway {
		t.Errorf("nar: %d, want 502", rec.Code)
	}
	miss := New(Options{Local: &fakeStore{}})
	rec = do(t, miss, "GET", "/"+strings.Repeat("1", narinfo.HashPartLen)+".narinfo")
	if rec.Code != 404 || rec.Header().Get(UpstreamHeader) != "" {
		t.Errorf("plain miss: %d %s=%q, want 404 without it", rec.Code, UpstreamHeader, rec.Header().Get(UpstreamHeader))
	}
}

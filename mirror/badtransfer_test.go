package mirror

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// One bad transfer from the only upstream must not hide a path it was
// just told exists: the next request is served, the narinfo kept, even
// when the lookup made after the bad transfer meets a flaky 404 or a
// narinfo with a bad signature.
func TestSingleUpstreamBadTransferStillServed(t *testing.T) {
	tests := []struct {
		name     string
		kind     upstreamtest.FaultKind
		relookup *upstreamtest.FaultKind // once, on the narinfo asked again
	}{
		{"corrupt", upstreamtest.Corrupt, nil},
		{"truncated", upstreamtest.Truncate, nil},
		{"corrupt then a narinfo 404", upstreamtest.Corrupt, ptr(upstreamtest.NotFound)},
		{"truncated then an untrusted narinfo", upstreamtest.Truncate, ptr(upstreamtest.UntrustedSig)},
	}
	files := map[string][]byte{"payload": randomBytes(7, 256<<10)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{files: files})
			p := e.paths[0]
			hp := hashPart(p)
			want := e.upstreamFile(p)
			ni := e.narInfo(p)
			e.ups[0].AddFault(upstreamtest.Fault{Kind: tt.kind, Match: "/nar/", Times: 1})
			if tt.relookup != nil {
				e.ups[0].AddFault(upstreamtest.Fault{Kind: *tt.relookup, Match: ".narinfo", Times: 1})
			}

			// The first GET may be cut (or retried inside), never wrong.
			resp, body, err := e.get(ni.URL)
			if err == nil && resp.StatusCode == http.StatusOK && !bytes.Equal(body, want) {
				t.Fatalf("first GET: 200 with wrong bytes (%d of %d)", len(body), len(want))
			}
			if resp, _, err := e.get(hp + ".narinfo"); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("narinfo after the bad transfer: %v, %v", err, resp)
			}
			for attempt := range 2 {
				resp, body, err = e.get(ni.URL)
				if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
					t.Fatalf("GET %d after the bad transfer: %v, %v, %d bytes", attempt+2, err, resp, len(body))
				}
			}
			if got := e.narInfo(p); got.URL != ni.URL {
				t.Errorf("narinfo URL changed to %s", got.URL)
			}
			if e.cache.Negative(hp) {
				t.Error("negative entry written for a served path")
			}
			if _, err := e.cache.NarInfo(hp); err != nil {
				t.Errorf("stored narinfo lost: %v", err)
			}
			if n := e.ups[0].Requests("/nar/"); n != 2 {
				t.Errorf("upstream NAR requests = %d, want 2 (the bad one, the good one)", n)
			}
			e.waitStored(strings.TrimPrefix(ni.URL, URLPrefix))
		})
	}
}

// An upstream that keeps serving bad bytes is excluded for the path after
// a few transfers: the NAR is then a 502, but the path is not forgotten.
func TestRepeatedBadTransfersKeepNarInfo(t *testing.T) {
	e := newEnv(t, envOptions{files: map[string][]byte{"payload": randomBytes(8, 64<<10)}})
	p := e.paths[0]
	hp := hashPart(p)
	ni := e.narInfo(p)
	e.ups[0].AddFault(upstreamtest.Fault{Kind: upstreamtest.Truncate, Match: "/nar/"})
	for range 3 {
		resp, _, err := e.get(ni.URL)
		if err == nil && resp.StatusCode == http.StatusOK {
			t.Fatal("truncated NAR served as 200")
		}
		if err == nil && resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("status %s, want 502", resp.Status)
		}
	}
	before := e.ups[0].Requests("/nar/")
	if resp, _, err := e.get(ni.URL); err != nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("excluded upstream: %v %v, want 502", err, resp)
	}
	if got := e.ups[0].Requests("/nar/"); got != before {
		t.Errorf("excluded upstream asked %d more times", got-before)
	}
	if resp, _, err := e.get(hp + ".narinfo"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("narinfo after bad transfers: %v %v", err, resp)
	}
	if e.cache.Negative(hp) {
		t.Error("negative entry written for a path its upstream has")
	}
}

// A NAR request that fails before the response began gets the status the
// client should see.
func TestNARErrorStatus(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env)
		want  int
	}{
		{"upstream 500", func(e *env) {
			e.ups[0].AddFault(upstreamtest.Fault{Kind: upstreamtest.ServerError, Match: "/nar/"})
		}, http.StatusBadGateway},
		{"upstream headers too slow", func(e *env) {
			e.ups[0].AddFault(upstreamtest.Fault{Kind: upstreamtest.SlowFirstByte, Match: "/nar/", Delay: 10 * time.Second})
		}, http.StatusGatewayTimeout},
		{"upstream bad bytes", func(e *env) {
			e.ups[0].AddFault(upstreamtest.Fault{Kind: upstreamtest.Truncate, Match: "/nar/"})
		}, http.StatusBadGateway},
		{"upstream down", func(e *env) { e.ups[0].Close() }, http.StatusBadGateway},
		{"no upstream has the NAR", func(e *env) {
			e.ups[0].AddFault(upstreamtest.Fault{Kind: upstreamtest.NotFound, Match: "/nar/"})
		}, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{files: smallFiles()})
			ni := e.narInfo(e.paths[0])
			tt.setup(e)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			n, err := e.mirror.OpenNAR(ctx, strings.TrimPrefix(ni.URL, URLPrefix), false)
			if err == nil {
				n.Close()
				t.Fatal("OpenNAR succeeded")
			}
			if tt.want == http.StatusNotFound && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("err %v, want fs.ErrNotExist", err)
			}
			if tt.want != http.StatusNotFound && errors.Is(err, fs.ErrNotExist) {
				t.Errorf("err %v matches fs.ErrNotExist, a 404 to any other mapping", err)
			}
			resp, _, err := e.getCtx(ctx, ni.URL)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// A narinfo that does not parse (an empty 200 from an upstream going down)
// is a 404 for the client, never remembered as a miss.
func TestMalformedUpstreamNarInfoNotCached(t *testing.T) {
	e := newEnv(t, envOptions{files: smallFiles()})
	p := e.paths[0]
	hp := hashPart(p)
	name := filepath.Join(e.dir, hp+".narinfo")
	good, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	resp, _, err := e.get(hp + ".narinfo")
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("empty upstream narinfo: %v %v, want 404", err, resp)
	}
	if e.cache.Negative(hp) {
		t.Fatal("malformed upstream narinfo cached as a miss")
	}
	if _, err := e.cache.NarInfo(hp); err == nil {
		t.Fatal("malformed upstream narinfo stored")
	}
	if err := os.WriteFile(name, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := e.narInfo(p); got.StorePath != p {
		t.Fatalf("narinfo for %s", got.StorePath)
	}
}

func ptr[T any](v T) *T { return &v }

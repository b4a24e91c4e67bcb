package mirror

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// An upstream that cuts or stalls a NAR body mid-way is asked for the
// rest: the client gets the whole file with a 200, and it is stored, or
// streamed only when larger than the cache may hold (maxSize).
func TestNARResumedAfterUpstreamCut(t *testing.T) {
	reset := upstreamtest.Fault{Kind: upstreamtest.Reset, Match: "/nar/", Times: 1}
	tests := []struct {
		name    string
		size    int
		faults  []upstreamtest.Fault
		maxSize int64
	}{
		{"reset, in memory", 256 << 10, []upstreamtest.Fault{reset}, 0},
		{"reset, temp file", 3 << 20, []upstreamtest.Fault{reset}, 0},
		{"stalled", 256 << 10, []upstreamtest.Fault{{Kind: upstreamtest.StallMidBody, Match: "/nar/", Times: 1}}, 0},
		{"reset, then the range ignored", 3 << 20, []upstreamtest.Fault{{Kind: upstreamtest.IgnoreRange, Match: "/nar/"}, reset}, 0},
		{"reset, streamed", 3 << 20, []upstreamtest.Fault{reset}, 1 << 20},
		{"stalled, streamed", 3 << 20, []upstreamtest.Fault{{Kind: upstreamtest.StallMidBody, Match: "/nar/", Times: 1}}, 1 << 20},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ni, want := faultyNAR(t, uint64(100+i), tt.size, tt.maxSize, tt.faults)
			resp, body, err := e.get(ni.URL)
			if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
				t.Fatalf("GET: %v, %v, %d of %d bytes", err, resp, len(body), len(want))
			}
			if n := e.ups[0].Requests("/nar/"); n != 2 {
				t.Errorf("upstream NAR requests = %d, want 2 (the cut one, the rest)", n)
			}
			key := strings.TrimPrefix(ni.URL, URLPrefix)
			if tt.maxSize > 0 {
				if n, err := e.fill.OpenNAR(context.Background(), key, nil); err == nil {
					n.Close()
					t.Fatal("NAR larger than the cache stored")
				}
				return
			}
			e.checkStored(key, want)
		})
	}
}

// When resuming does not give the right file (the upstream keeps cutting,
// or sends bad bytes), the client sees a cut connection or an error status,
// never wrong bytes with a 200, and nothing is stored; so too when the NAR
// is only streamed, being larger than the cache may hold (maxSize).
func TestNARResumeFailures(t *testing.T) {
	resetAlways := []upstreamtest.Fault{{Kind: upstreamtest.Reset, Match: "/nar/"}}
	corruptAfterReset := []upstreamtest.Fault{
		{Kind: upstreamtest.Corrupt, Match: "/nar/"},
		{Kind: upstreamtest.Reset, Match: "/nar/", Times: 1},
	}
	tests := []struct {
		name    string
		faults  []upstreamtest.Fault
		maxSize int64
	}{
		{"reset every time", resetAlways, 0},
		{"corrupt after a reset", corruptAfterReset, 0},
		{"reset every time, streamed", resetAlways, 1 << 20},
		{"corrupt after a reset, streamed", corruptAfterReset, 1 << 20},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Big enough for a temp file, which must not be left behind.
			e, ni, want := faultyNAR(t, uint64(200+i), 1536<<10, tt.maxSize, tt.faults)
			resp, body, err := e.get(ni.URL)
			if err == nil && resp.StatusCode == http.StatusOK {
				if bytes.Equal(body, want) {
					t.Fatal("GET succeeded")
				}
				t.Fatalf("200 with wrong bytes (%d of %d)", len(body), len(want))
			}
			if n := e.ups[0].Requests("/nar/"); n < 2 {
				t.Errorf("upstream NAR requests = %d, want a resume at least", n)
			}
			key := strings.TrimPrefix(ni.URL, URLPrefix)
			tmp := filepath.Join(e.cacheOp.Dir, "tmp")
			deadline := time.Now().Add(10 * time.Second)
			for {
				left, _ := os.ReadDir(tmp)
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("temp files left: %d", len(left))
				}
				time.Sleep(10 * time.Millisecond)
			}
			if n, err := e.fill.OpenNAR(context.Background(), key, nil); err == nil {
				n.Close()
				t.Fatal("NAR stored")
			}
		})
	}
}

// faultyNAR serves one uncompressed path of size random bytes (seeded),
// its narinfo already fetched, then adds faults to the upstream. It
// returns the narinfo and the upstream's NAR file.
func faultyNAR(t *testing.T, seed uint64, size int, maxSize int64, faults []upstreamtest.Fault) (*env, *narinfo.NarInfo, []byte) {
	t.Helper()
	files := map[string][]byte{"payload": randomBytes(seed, size)}
	e := newEnv(t, envOptions{files: files, compression: "none", cache: disk.Options{MaxSize: maxSize}})
	p := e.paths[0]
	ni := e.narInfo(p)
	for _, f := range faults {
		e.ups[0].AddFault(f)
	}
	return e, ni, e.upstreamFile(p)
}

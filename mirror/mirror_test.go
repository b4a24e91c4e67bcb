package mirror

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

func smallFiles() map[string][]byte {
	return map[string][]byte{
		"hello":  []byte("hello, world\n"),
		"bigger": bytes.Repeat([]byte("0123456789abcdef"), 20000),
	}
}

func TestNarInfoRewrittenAndResigned(t *testing.T) {
	for _, resign := range []bool{true, false} {
		t.Run(map[bool]string{true: "resign", false: "keep"}[resign], func(t *testing.T) {
			e := newEnv(t, envOptions{files: smallFiles(), noResign: !resign})
			p := e.paths[0]
			up := e.upstreamNarInfo(p)
			got := e.narInfo(p)

			key, err := narinfo.NarFileKey(hashPart(p), up.NarHash, up.Compression)
			if err != nil {
				t.Fatal(err)
			}
			if want := "nar/mirror/" + key; got.URL != want {
				t.Errorf("URL = %q, want %q", got.URL, want)
			}
			if !strings.HasSuffix(got.URL, ".nar.zst") {
				t.Errorf("URL %q lacks the zstd extension", got.URL)
			}
			if got.Compression != up.Compression || got.FileSize != up.FileSize || !bytes.Equal(got.FileHash.Digest(), up.FileHash.Digest()) {
				t.Errorf("file fields changed: %+v vs %+v", got, up)
			}
			upPub, _ := narinfo.ParsePublicKey(e.upKey.Public)
			ourPub, _ := narinfo.ParsePublicKey(e.ourKey.Public)
			if !got.Verify([]signature.PublicKey{upPub}) {
				t.Error("upstream signature lost")
			}
			if got.Verify([]signature.PublicKey{ourPub}) != resign {
				t.Errorf("our signature present = %v, want %v", !resign, resign)
			}
			// A second request is answered from the cache.
			e.narInfo(p)
			if n := e.ups[0].Requests(".narinfo"); n != 1 {
				t.Errorf("upstream asked %d times for narinfos, want 1", n)
			}
		})
	}
}

func TestNARServedThenCached(t *testing.T) {
	e := newEnv(t, envOptions{files: smallFiles()})
	for _, p := range e.paths {
		ni := e.narInfo(p)
		want := e.upstreamFile(p)
		resp, body, err := e.get(ni.URL)
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Fatalf("first GET %s: %v %v, %d bytes", ni.URL, err, resp.Status, len(body))
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-nix-nar" {
			t.Errorf("Content-Type = %q", ct)
		}
		if resp.Header.Get("Content-Encoding") != "" {
			t.Error("Content-Encoding sent")
		}
		// Streamed while checked: no cache on the way may keep it.
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control of a streamed NAR = %q", cc)
		}
		if resp.ContentLength != int64(len(want)) {
			t.Errorf("Content-Length = %d, want %d", resp.ContentLength, len(want))
		}
		key := strings.TrimPrefix(ni.URL, URLPrefix)
		e.waitStored(key)
		// Hit: served from disk with ranges.
		resp, body, err = e.get(ni.URL)
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, want) || resp.Header.Get("Accept-Ranges") != "bytes" {
			t.Fatalf("hit GET: %v %v", err, resp.Status)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("Cache-Control of a stored NAR = %q", cc)
		}
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/"+ni.URL, nil)
		req.Header.Set("Range", "bytes=5-")
		rr, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		part, _ := io.ReadAll(rr.Body)
		rr.Body.Close()
		if rr.StatusCode != http.StatusPartialContent || !bytes.Equal(part, want[5:]) {
			t.Fatalf("range: %s, %d bytes", rr.Status, len(part))
		}
		head, _ := http.Head(e.srv.URL + "/" + ni.URL)
		if head.StatusCode != 200 || head.ContentLength != int64(len(want)) {
			t.Fatalf("HEAD: %s %d", head.Status, head.ContentLength)
		}
	}
	if n := e.ups[0].Requests("/nar/"); n != len(e.paths) {
		t.Errorf("upstream NAR requests = %d, want %d", n, len(e.paths))
	}
}

func TestBadNames(t *testing.T) {
	e := newEnv(t, envOptions{files: smallFiles()})
	ni := e.narInfo(e.paths[0])
	name := strings.TrimPrefix(ni.URL, URLPrefix)
	for _, bad := range []string{
		"x", "..", strings.ToUpper(name), name + ".xz", strings.Replace(name, ".nar.zst", ".nar", 1),
		name[:33] + strings.Repeat("0", 52) + ".nar.zst", // another NarHash
		"00000000000000000000000000000000-" + name[33:],  // unknown store path
	} {
		if n, err := e.mirror.OpenNAR(context.Background(), bad, false); !errors.Is(err, fs.ErrNotExist) {
			if n != nil {
				n.Close()
			}
			t.Errorf("OpenNAR(%q) = %v, want fs.ErrNotExist", bad, err)
		}
	}
	for _, bad := range []string{"", "short", strings.Repeat("e", 32), "../../../../etc/passwd"} {
		if _, err := e.mirror.NarInfo(context.Background(), bad); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("NarInfo(%q) = %v", bad, err)
		}
	}
}

func TestNegativeEntries(t *testing.T) {
	// A TTL long enough for three requests on a loaded machine.
	e := newEnv(t, envOptions{files: smallFiles(), cache: disk.Options{NegativeTTL: time.Second}})
	const missing = "0123456789abcdfghijklmnpqrsvwxyz"
	for range 3 {
		resp, _, err := e.get(missing + ".narinfo")
		if err != nil || resp.StatusCode != 404 {
			t.Fatalf("missing narinfo: %v %v", err, resp.Status)
		}
	}
	if n := e.ups[0].Requests(missing); n != 1 {
		t.Fatalf("upstream asked %d times, want 1 (negative entry)", n)
	}
	time.Sleep(1100 * time.Millisecond)
	e.get(missing + ".narinfo")
	if n := e.ups[0].Requests(missing); n != 2 {
		t.Fatalf("upstream asked %d times after the TTL, want 2", n)
	}
}

func TestUpstreamDown(t *testing.T) {
	e := newEnv(t, envOptions{files: smallFiles()})
	p := e.paths[0]
	ni := e.narInfo(p)
	want := e.upstreamFile(p)
	if _, body, err := e.get(ni.URL); err != nil || !bytes.Equal(body, want) {
		t.Fatal("first NAR GET failed")
	}
	e.waitStored(strings.TrimPrefix(ni.URL, URLPrefix))
	other := e.paths[1]
	e.ups[0].Close()

	// Cached: still served.
	if got := e.narInfo(p); got.URL != ni.URL {
		t.Fatalf("cached narinfo changed: %s", got.URL)
	}
	if resp, body, err := e.get(ni.URL); err != nil || resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Fatalf("cached NAR with upstream down: %v", err)
	}
	// Not cached: fails fast, and is not remembered as missing.
	start := time.Now()
	resp, _, err := e.get(hashPart(other) + ".narinfo")
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("uncached narinfo with upstream down: %v %v", err, resp.Status)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("uncached lookup took %s", d)
	}
	if e.cache.Negative(hashPart(other)) {
		t.Fatal("an unavailable upstream was cached as a miss")
	}
}

func TestFaultsNeverServeWrongBytes(t *testing.T) {
	tests := []struct {
		name  string
		fault upstreamtest.Fault
		// first: whether the first GET gets the right bytes (either: it
		// depends on whether the failure comes before the response began);
		// eventually: whether some GET within three (a client's retries) does.
		first      outcome
		eventually bool
	}{
		{"nar not found", upstreamtest.Fault{Kind: upstreamtest.NotFound, Match: "/nar/"}, good, true},
		{"nar server error once", upstreamtest.Fault{Kind: upstreamtest.ServerError, Match: "/nar/", Times: 1}, good, true},
		{"nar server error always", upstreamtest.Fault{Kind: upstreamtest.ServerError, Match: "/nar/"}, bad, false},
		{"slow first byte", upstreamtest.Fault{Kind: upstreamtest.SlowFirstByte, Match: "/nar/", Delay: 3 * time.Second, Times: 1}, good, true},
		{"stall mid-body", upstreamtest.Fault{Kind: upstreamtest.StallMidBody, Match: "/nar/", Times: 1}, good, true}, // resumed
		{"truncated", upstreamtest.Fault{Kind: upstreamtest.Truncate, Match: "/nar/"}, good, true},
		{"corrupted", upstreamtest.Fault{Kind: upstreamtest.Corrupt, Match: "/nar/"}, either, true},
		{"reset", upstreamtest.Fault{Kind: upstreamtest.Reset, Match: "/nar/", Times: 1}, good, true}, // resumed, or retried before the response
		{"untrusted signature", upstreamtest.Fault{Kind: upstreamtest.UntrustedSig, Match: ".narinfo"}, good, true},
		{"unknown fields and hex hashes", upstreamtest.Fault{Kind: upstreamtest.UnknownFieldsHexHashes, Match: ".narinfo"}, good, true},
		{"narinfo server error", upstreamtest.Fault{Kind: upstreamtest.ServerError, Match: ".narinfo"}, good, true},
	}
	files := map[string][]byte{"payload": bytes.Repeat([]byte("nix archive payload "), 30000)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Two upstreams serving the same cache; the first misbehaves.
			e := newEnv(t, envOptions{files: files, upstreams: 2})
			e.ups[0].AddFault(tt.fault)
			p := e.paths[0]
			want := e.upstreamFile(p)
			resp, body, err := e.get(hashPart(p) + ".narinfo")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("narinfo: %v %v", err, resp.Status)
			}
			ni, err := narinfo.ParseBytes(body)
			if err != nil {
				t.Fatal(err)
			}
			var ok []bool
			for attempt := range 3 {
				resp, body, err := e.get(ni.URL)
				good := err == nil && resp.StatusCode == 200 && bytes.Equal(body, want)
				if err == nil && resp.StatusCode == 200 && !good {
					t.Fatalf("attempt %d: 200 with wrong bytes (%d of %d)", attempt, len(body), len(want))
				}
				ok = append(ok, good)
				if good {
					break
				}
			}
			if tt.first != either && ok[0] != (tt.first == good) {
				t.Errorf("first GET good = %v, want %v", ok[0], tt.first == good)
			}
			if got := ok[len(ok)-1]; got != tt.eventually {
				t.Errorf("eventually good = %v, want %v (attempts %v)", got, tt.eventually, ok)
			}
			// Whatever is stored is right. The commit follows the NarHash
			// check, which may end after the client got its last byte.
			key := strings.TrimPrefix(ni.URL, URLPrefix)
			if tt.eventually {
				e.waitStored(key)
			} else {
				time.Sleep(50 * time.Millisecond)
			}
			if n, err := e.fill.OpenNAR(context.Background(), key, nil); err == nil {
				got, _ := io.ReadAll(n.File())
				n.Close()
				if !bytes.Equal(got, want) {
					t.Fatal("wrong bytes stored")
				}
			} else if tt.eventually {
				t.Fatalf("good download not stored: %v", err)
			}
		})
	}
}

type outcome int

const (
	either outcome = iota
	good
	bad
)

func TestNotFoundAnywhereIsNegative(t *testing.T) {
	e := newEnv(t, envOptions{files: smallFiles(), upstreams: 2})
	for _, u := range e.ups {
		u.AddFault(upstreamtest.Fault{Kind: upstreamtest.NotFound, Match: ".narinfo"})
	}
	hp := hashPart(e.paths[0])
	if resp, _, _ := e.get(hp + ".narinfo"); resp.StatusCode != 404 {
		t.Fatalf("status %s", resp.Status)
	}
	if !e.cache.Negative(hp) {
		t.Fatal("no negative entry after a miss everywhere")
	}
}

func TestNarInfoUnavailableNotCached(t *testing.T) {
	e := newEnv(t, envOptions{files: smallFiles()})
	e.ups[0].AddFault(upstreamtest.Fault{Kind: upstreamtest.ServerError, Match: ".narinfo", Times: 1})
	hp := hashPart(e.paths[0])
	if resp, _, _ := e.get(hp + ".narinfo"); resp.StatusCode != 404 {
		t.Fatalf("status %s", resp.Status)
	}
	if e.cache.Negative(hp) {
		t.Fatal("transient failure cached as a miss")
	}
}

func TestNARUpstreamGoneIsDeadPath(t *testing.T) {
	// The only upstream lost the NAR: the client gets a 404 (it may build)
	// and the narinfo is forgotten rather than served forever.
	e := newEnv(t, envOptions{files: smallFiles()})
	p := e.paths[0]
	ni := e.narInfo(p)
	e.ups[0].AddFault(upstreamtest.Fault{Kind: upstreamtest.NotFound, Match: "/nar/"})
	resp, _, err := e.get(ni.URL)
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("NAR gone: %v %v", err, resp.Status)
	}
	if _, err := e.cache.NarInfo(hashPart(p)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("narinfo kept: %v", err)
	}
}

func TestNarInfoBytes(t *testing.T) {
	e := newEnv(t, envOptions{files: smallFiles()})
	ctx := context.Background()
	for _, p := range e.paths {
		hp := hashPart(p)
		miss, err := e.mirror.NarInfoBytes(ctx, hp) // from the upstream
		if err != nil {
			t.Fatal(err)
		}
		hit, err := e.mirror.NarInfoBytes(ctx, hp) // from the cache
		if err != nil {
			t.Fatal(err)
		}
		ni, err := e.mirror.NarInfo(ctx, hp)
		if err != nil {
			t.Fatal(err)
		}
		want := ni.Bytes()
		if !bytes.Equal(miss, want) || !bytes.Equal(hit, want) {
			t.Fatalf("NarInfoBytes:\nmiss %q\nhit  %q\nwant %q", miss, hit, want)
		}
	}
	if n := e.ups[0].Requests(".narinfo"); n != len(e.paths) {
		t.Errorf("upstream asked %d times for narinfos, want %d", n, len(e.paths))
	}

	// From the index of a reopened cache, without upstreams.
	want, _ := e.mirror.NarInfoBytes(ctx, hashPart(e.paths[0]))
	e.mirror.Close()
	e.cache.Close()
	c, err := disk.Open(disk.Options{Dir: e.cacheOp.Dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := New(Config{Cache: c, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := m.NarInfoBytes(ctx, hashPart(e.paths[0]))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after reopening: %v\ngot  %q\nwant %q", err, got, want)
	}

	for _, hp := range []string{"", "short", "../../etc/passwd", "0123456789abcdfghijklmnpqrsvwxyz"} {
		if _, err := m.NarInfoBytes(ctx, hp); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("NarInfoBytes(%q) = %v, want fs.ErrNotExist", hp, err)
		}
	}
}

// An uncompressed NAR's size is its NarSize, which HEAD announces even
// when the upstream's narinfo gives no FileSize (as nix-serve's do not).
func TestHeadLengthWithoutFileSize(t *testing.T) {
	e := newEnv(t, envOptions{files: smallFiles(), compression: "none", prepare: func(dir string) { stripFileHashes(t, dir) }})
	for _, p := range e.paths {
		ni := e.narInfo(p)
		if ni.FileSize != 0 {
			t.Fatalf("FileSize %d was not stripped", ni.FileSize)
		}
		head, err := http.Head(e.srv.URL + "/" + ni.URL)
		if err != nil {
			t.Fatal(err)
		}
		head.Body.Close()
		if head.StatusCode != 200 || head.ContentLength != int64(ni.NarSize) {
			t.Errorf("HEAD %s: %s, Content-Length %d, want %d", ni.URL, head.Status, head.ContentLength, ni.NarSize)
		}
	}
}

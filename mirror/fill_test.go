package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestManyClientsOneDownload(t *testing.T) {
	const size = 20 << 20
	e := newEnv(t, envOptions{files: map[string][]byte{"big": randomBytes(1, size)}, compression: "none"})
	p := e.paths[0]
	want := e.upstreamFile(p)
	wantSum := sha256.Sum256(want)
	ni := e.narInfo(p)
	e.ups[0].SetRate(20 << 20) // about a second for the whole file

	const clients = 50
	type result struct {
		sum          [32]byte
		n            int64
		sentAtFirst  int64
		status       int
		err          error
		firstByteAgo time.Duration
	}
	results := make([]result, clients)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			<-start
			r := &results[i]
			resp, err := http.Get(e.srv.URL + "/" + ni.URL)
			if err != nil {
				r.err = err
				return
			}
			defer resp.Body.Close()
			r.status = resp.StatusCode
			one := make([]byte, 1)
			if _, err := io.ReadFull(resp.Body, one); err != nil {
				r.err = err
				return
			}
			r.sentAtFirst = e.ups[0].BytesSent("/nar/")
			h := sha256.New()
			h.Write(one)
			n, err := io.Copy(h, resp.Body)
			r.n, r.err = n+1, err
			copy(r.sum[:], h.Sum(nil))
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(t0)

	minSent := int64(size)
	for i, r := range results {
		if r.err != nil || r.status != 200 {
			t.Fatalf("client %d: %v (status %d)", i, r.err, r.status)
		}
		if r.n != int64(len(want)) || r.sum != wantSum {
			t.Fatalf("client %d got %d bytes, not the file", i, r.n)
		}
		minSent = min(minSent, r.sentAtFirst)
	}
	if n := e.ups[0].Requests("/nar/"); n != 1 {
		t.Fatalf("upstream NAR requests = %d, want 1", n)
	}
	if minSent >= int64(len(want))/2 {
		t.Fatalf("first byte reached a client after the upstream sent %d of %d bytes", minSent, len(want))
	}
	t.Logf("%d clients × %d MiB in %s; first byte after %d upstream bytes", clients, size>>20, took, minSent)
	e.waitStored(strings.TrimPrefix(ni.URL, URLPrefix))
}

func TestSlowClientDoesNotSlowOthers(t *testing.T) {
	const size = 8 << 20
	e := newEnv(t, envOptions{files: map[string][]byte{"big": randomBytes(2, size)}, compression: "none"})
	p := e.paths[0]
	want := e.upstreamFile(p)
	ni := e.narInfo(p)
	e.ups[0].SetRate(32 << 20)

	// The slow client reads one byte, then nothing until the end.
	slow, err := http.Get(e.srv.URL + "/" + ni.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Body.Close()
	one := make([]byte, 1)
	if _, err := io.ReadFull(slow.Body, one); err != nil {
		t.Fatal(err)
	}
	fastStart := time.Now()
	resp, body, err := e.get(ni.URL)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Fatalf("fast client: %v", err)
	}
	fast := time.Since(fastStart)
	e.waitStored(strings.TrimPrefix(ni.URL, URLPrefix))
	if fast > 5*time.Second {
		t.Fatalf("fast client took %s", fast)
	}
	rest, err := io.ReadAll(slow.Body)
	if err != nil || !bytes.Equal(append(one, rest...), want) {
		t.Fatalf("slow client: %v", err)
	}
	if n := e.ups[0].Requests("/nar/"); n != 1 {
		t.Fatalf("upstream NAR requests = %d, want 1", n)
	}
}

func TestClientLeavingDoesNotCancelFill(t *testing.T) {
	const size = 4 << 20
	e := newEnv(t, envOptions{files: map[string][]byte{"big": randomBytes(3, size)}, compression: "none"})
	p := e.paths[0]
	ni := e.narInfo(p)
	e.ups[0].SetRate(8 << 20)

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/"+ni.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	e.waitStored(strings.TrimPrefix(ni.URL, URLPrefix))
	_, body, err := e.get(ni.URL)
	if err != nil || !bytes.Equal(body, e.upstreamFile(p)) {
		t.Fatalf("after the client left: %v", err)
	}
	if n := e.ups[0].Requests("/nar/"); n != 1 {
		t.Fatalf("upstream NAR requests = %d, want 1", n)
	}
}

func TestNarHashVerifiedWithoutFileHash(t *testing.T) {
	// Narinfos without FileHash/FileSize (on-the-fly compression): the NAR
	// is decompressed beside the download and checked against NarHash.
	for _, comp := range []string{"zstd", "xz", "none"} {
		t.Run(comp, func(t *testing.T) {
			stripFileFields := func(dir string) { stripFileHashes(t, dir) }
			files := map[string][]byte{"payload": randomBytes(4, 64<<10)}
			e := newEnv(t, envOptions{files: files, compression: comp, prepare: stripFileFields, upstreams: 2})
			p := e.paths[0]
			want := e.upstreamFile(p)
			ni := e.narInfo(p)
			if ni.FileHash != nil || ni.FileSize != 0 {
				t.Fatal("FileHash not stripped")
			}
			resp, body, err := e.get(ni.URL)
			if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, want) {
				t.Fatalf("GET: %v", err)
			}
			if resp.ContentLength != int64(len(want)) {
				t.Errorf("Content-Length = %d (upstream's), want %d", resp.ContentLength, len(want))
			}
			e.waitStored(strings.TrimPrefix(ni.URL, URLPrefix))

			// A corrupting first upstream is caught by NarHash too.
			e2 := newEnv(t, envOptions{files: files, compression: comp, prepare: stripFileFields, upstreams: 2})
			e2.ups[0].AddFault(upstreamFaultCorrupt())
			ni2 := e2.narInfo(p)
			var good bool
			for range 3 {
				resp, body, err := e2.get(ni2.URL)
				if err == nil && resp.StatusCode == 200 {
					if !bytes.Equal(body, want) {
						t.Fatalf("200 with wrong bytes")
					}
					good = true
					break
				}
			}
			if !good {
				t.Fatal("never got the right bytes from the second upstream")
			}
			if e2.ups[1].Requests("/nar/") == 0 {
				t.Fatal("second upstream never asked")
			}
		})
	}
}

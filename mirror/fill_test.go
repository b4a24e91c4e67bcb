package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/fill"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// patientCache is for tests of throughput, not of stalls: a throttled
// upstream on a loaded machine may pause for more than a second.
func patientCache() fill.Options { return fill.Options{StallTimeout: 30 * time.Second} }

func TestManyClientsOneDownload(t *testing.T) {
	const size = 20 << 20
	e := newEnv(t, envOptions{files: map[string][]byte{"big": randomBytes(1, size)}, compression: "none", fill: patientCache()})
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
	e := newEnv(t, envOptions{files: map[string][]byte{"big": randomBytes(2, size)}, compression: "none", fill: patientCache()})
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
	e := newEnv(t, envOptions{files: map[string][]byte{"big": randomBytes(3, size)}, compression: "none", fill: patientCache()})
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

func TestNarHashCheckedDespiteLyingFileHash(t *testing.T) {
	// FileHash and FileSize are not signed. The first upstream serves a
	// validly signed narinfo (NarHash of the real content) whose FileHash
	// and FileSize match the corrupt file it serves: the file must not be
	// stored, the upstream must be skipped for the path, and the second
	// upstream must serve the next request.
	for _, comp := range []string{"none", "zstd", "xz"} {
		t.Run(comp, func(t *testing.T) {
			key := upstreamtest.NewKey(t, "upstream-test-1")
			content := randomBytes(5, 256<<10)
			if comp == "xz" {
				content = content[:64<<10] // the test's xz encoder is slow
			}
			good := t.TempDir()
			p := upstreamtest.WriteCache(good, key.Secret, map[string][]byte{"payload": content}, comp)[0]
			bad, corrupt := lyingCopy(t, good, p, key, content, comp)

			e := newEnv(t, envOptions{dir: good, upstreamPublicKey: key.Public, upstreams: 2, upstreamDirs: []string{bad, good}})
			want := e.upstreamFile(p)
			ni := e.narInfo(p)
			if ni.FileSize != uint64(len(corrupt)) {
				t.Fatalf("narinfo not from the lying upstream (FileSize %d)", ni.FileSize)
			}
			resp, body, err := e.get(ni.URL)
			// All bytes may arrive once FileHash matched (Nix rejects them
			// by NarHash), but never other bytes than the upstream's.
			if err == nil && resp.StatusCode == http.StatusOK && !bytes.Equal(body, corrupt) {
				t.Fatalf("200 with %d unexpected bytes", len(body))
			}
			hp := hashPart(p)
			deadline := time.Now().Add(10 * time.Second)
			for !e.mirror.isStale(hp) {
				if time.Now().After(deadline) {
					t.Fatal("lying upstream never marked bad")
				}
				time.Sleep(10 * time.Millisecond)
			}
			name := strings.TrimPrefix(ni.URL, URLPrefix)
			if n, err := e.fill.OpenNAR(context.Background(), name, nil); err == nil {
				n.Close()
				t.Fatal("corrupt NAR stored")
			}
			tmp, _ := os.ReadDir(filepath.Join(e.cacheOp.Dir, "tmp"))
			if len(tmp) > 0 {
				t.Fatalf("temp files left: %d", len(tmp))
			}

			resp, body, err = e.get(ni.URL)
			if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
				t.Fatalf("second GET: %v, %d bytes", err, len(body))
			}
			if n := e.ups[0].Requests("/nar/"); n != 1 {
				t.Errorf("lying upstream asked %d times for the NAR, want 1", n)
			}
			if e.ups[1].Requests("/nar/") == 0 {
				t.Fatal("second upstream never asked")
			}
			e.checkStored(name, want)
			if got := e.narInfo(p); got.FileSize != uint64(len(want)) {
				t.Errorf("narinfo still from the lying upstream (FileSize %d)", got.FileSize)
			}
		})
	}
}

// lyingCopy copies the upstream cache folder good and makes the NAR of
// storePath a valid compressed NAR of content with one byte flipped, its
// narinfo re-signed with key (NarHash unchanged) and carrying the FileHash
// and FileSize of that corrupt file. It returns the folder and the file.
func lyingCopy(t testing.TB, good, storePath string, key upstreamtest.Key, content []byte, comp string) (string, []byte) {
	t.Helper()
	bad := t.TempDir()
	if err := os.CopyFS(bad, os.DirFS(good)); err != nil {
		t.Fatal(err)
	}
	// A cache of the flipped content gives a correctly compressed file.
	flipped := append([]byte(nil), content...)
	flipped[len(flipped)/2] ^= 0x55
	scratch := t.TempDir()
	sp := upstreamtest.WriteCache(scratch, key.Secret, map[string][]byte{"payload": flipped}, comp)[0]
	readNarInfo := func(dir, p string) (string, *narinfo.NarInfo) {
		name := filepath.Join(dir, hashPart(p)+".narinfo")
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		ni, err := narinfo.ParseBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		return name, ni
	}
	_, sni := readNarInfo(scratch, sp)
	corrupt, err := os.ReadFile(filepath.Join(scratch, sni.URL))
	if err != nil {
		t.Fatal(err)
	}
	name, ni := readNarInfo(bad, storePath)
	if err := os.WriteFile(filepath.Join(bad, ni.URL), corrupt, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(corrupt)
	ni.FileHash = nixhash.MustNewHash(nixhash.SHA256, sum[:])
	ni.FileSize = uint64(len(corrupt))
	ni.Sigs = nil
	if err := ni.Sign(key.Secret); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, ni.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return bad, corrupt
}

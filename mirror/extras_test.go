package mirror

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/server"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

func writeUpstreamFile(t testing.TB, dir, name string, content []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
}

// getStatus fetches path through the mirror's server and checks the status.
func (e *env) getStatus(path string, want int) (*http.Response, []byte) {
	e.t.Helper()
	resp, body, err := e.get(path)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != want {
		e.t.Fatalf("GET %s: %s (%q), want %d", path, resp.Status, body, want)
	}
	return resp, body
}

// stored reports whether the mirror keeps name ("ls/<hash>.ls", "log/<drv>").
func (e *env) stored(name string) bool {
	_, err := os.Stat(filepath.Join(e.cacheOp.Dir, extrasDir, filepath.FromSlash(name)))
	return err == nil
}

const testListing = `{"version":1,"root":{"type":"regular","size":2,"narOffset":96}}`

func TestMirrorListing(t *testing.T) {
	e := newEnv(t, envOptions{files: map[string][]byte{"a": []byte("a\n"), "b": []byte("b\n")}})
	a, b := hashPart(e.paths[0]), hashPart(e.paths[1])
	writeUpstreamFile(t, e.dir, a+".ls", []byte(testListing))
	unserved := "0123456789abcdfghijklmnpqrsvwxyz"
	writeUpstreamFile(t, e.dir, unserved+".ls", []byte(testListing))

	for i := range 2 {
		resp, body := e.getStatus(a+".ls", http.StatusOK)
		if string(body) != testListing || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %d: %q (%s)", i, body, resp.Header.Get("Content-Type"))
		}
	}
	if n := e.ups[0].Requests(a + ".ls"); n != 1 {
		t.Errorf("upstream asked %d times for the listing, want once: the second came from disk", n)
	}
	if !e.stored("ls/" + a + ".ls") {
		t.Error("listing not stored")
	}

	// Only for paths the mirror serves: no narinfo, no listing.
	e.getStatus(unserved+".ls", http.StatusNotFound)
	if n := e.ups[0].Requests(unserved + ".ls"); n != 0 {
		t.Errorf("upstream asked for the listing of a path without narinfo")
	}

	// A miss is not remembered.
	e.getStatus(b+".ls", http.StatusNotFound)
	writeUpstreamFile(t, e.dir, b+".ls", []byte(testListing))
	e.getStatus(b+".ls", http.StatusOK)
}

func TestMirrorListingRefused(t *testing.T) {
	e := newEnv(t, envOptions{files: map[string][]byte{"a": []byte("a\n"), "b": []byte("b\n"), "c": []byte("c\n"), "d": []byte("d\n")}})
	e.mirror.extras.listingLimit = 64 << 10
	for i, content := range [][]byte{
		[]byte(`{"version":1,"root":`),                             // cut
		[]byte(`{"version":2,"root":{"type":"regular","size":2}}`), // unknown version
		[]byte(`<html>rate limited</html>`),                        // not JSON
		append([]byte(`{"version":1,"root":{"type":"regular","size":2,"x":"`), // over the limit
			append(bytes.Repeat([]byte("x"), 64<<10), `"}}`...)...),
	} {
		h := hashPart(e.paths[i])
		writeUpstreamFile(t, e.dir, h+".ls", content)
		e.getStatus(h+".ls", http.StatusNotFound)
		if e.stored("ls/" + h + ".ls") {
			t.Errorf("listing %d stored although refused", i)
		}
	}
}

func TestMirrorListingUpstreamFailing(t *testing.T) {
	e := newEnv(t, envOptions{files: map[string][]byte{"a": []byte("a\n")}})
	a := hashPart(e.paths[0])
	writeUpstreamFile(t, e.dir, a+".ls", []byte(testListing))
	e.narInfo(e.paths[0])
	e.ups[0].AddFault(upstreamtest.Fault{Kind: upstreamtest.ServerError, Match: ".ls", Times: 1})
	resp, _ := e.getStatus(a+".ls", http.StatusNotFound)
	if got := resp.Header.Get(server.UpstreamHeader); got != "unavailable" {
		t.Errorf("%s = %q, want unavailable", server.UpstreamHeader, got)
	}
	if e.stored("ls/" + a + ".ls") {
		t.Error("a failure was stored")
	}
	e.getStatus(a+".ls", http.StatusOK)
}

func TestMirrorLog(t *testing.T) {
	e := newEnv(t, envOptions{files: map[string][]byte{"a": []byte("a\n")}})
	drv := hashPart(e.paths[0]) + "-a.drv"
	text := []byte(strings.Repeat("building a\n", 1000))
	writeUpstreamFile(t, e.dir, "log/"+drv, text)

	for i := range 2 {
		resp, body := e.getStatus("log/"+drv, http.StatusOK)
		if !bytes.Equal(body, text) || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("GET %d: %d bytes (%s), want the log", i, len(body), resp.Header.Get("Content-Type"))
		}
	}
	if n := e.ups[0].Requests("log/" + drv); n != 1 {
		t.Errorf("upstream asked %d times for the log, want once", n)
	}
	e.getStatus("log/"+hashPart(e.paths[0])+"-missing.drv", http.StatusNotFound)
	e.getStatus("log/"+hashPart(e.paths[0])+"-bad%3Fname.drv", http.StatusNotFound)
	e.getStatus("log/"+hashPart(e.paths[0])+"-a", http.StatusNotFound)
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestMirrorLogEncoded(t *testing.T) {
	e := newEnv(t, envOptions{files: map[string][]byte{"a": []byte("a\n")}})
	e.mirror.extras.logLimit = 1 << 20
	h := hashPart(e.paths[0])
	text := []byte(strings.Repeat("compiling x.c\n", 5000))
	writeUpstreamFile(t, e.dir, "log/"+h+"-gz.drv", gzipped(t, text))
	// Small as sent, over the limit once decoded.
	writeUpstreamFile(t, e.dir, "log/"+h+"-bomb.drv", gzipped(t, make([]byte, 1<<20+1)))
	writeUpstreamFile(t, e.dir, "log/"+h+"-xz.drv", []byte("\xfd7zXZ\x00\x00"))
	e.ups[0].SetHeader("-gz.drv", "Content-Encoding", "gzip")
	e.ups[0].SetHeader("-bomb.drv", "Content-Encoding", "gzip")
	e.ups[0].SetHeader("-xz.drv", "Content-Encoding", "xz")

	// Asked without Accept-Encoding, as Nix 2.8 asks: no transparent decoding.
	raw := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := raw.Get(e.srv.URL + "/log/" + h + "-gz.drv")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("gzip log: %s, %v", resp.Status, err)
	}
	if !bytes.Equal(body, text) || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip log: %d bytes, Content-Encoding %q; want the %d bytes of text, no encoding",
			len(body), resp.Header.Get("Content-Encoding"), len(text))
	}
	if b, err := os.ReadFile(filepath.Join(e.cacheOp.Dir, extrasDir, "log", h+"-gz.drv")); err != nil || !bytes.Equal(b, text) {
		t.Errorf("stored log: %d bytes, %v; want the decoded text", len(b), err)
	}
	for _, name := range []string{h + "-bomb.drv", h + "-xz.drv"} {
		e.getStatus("log/"+name, http.StatusNotFound)
		if e.stored("log/" + name) {
			t.Errorf("%s stored although refused", name)
		}
	}
}

func TestMirrorLogOneFetch(t *testing.T) {
	e := newEnv(t, envOptions{files: map[string][]byte{"a": []byte("a\n")}})
	drv := hashPart(e.paths[0]) + "-a.drv"
	writeUpstreamFile(t, e.dir, "log/"+drv, []byte("log\n"))
	e.ups[0].AddFault(upstreamtest.Fault{Kind: upstreamtest.SlowFirstByte, Match: "log/", Delay: 300 * time.Millisecond})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body, err := e.get("log/" + drv)
			if err != nil || resp.StatusCode != http.StatusOK || string(body) != "log\n" {
				t.Errorf("GET: %v %v %q", resp, err, body)
			}
		}()
	}
	wg.Wait()
	if n := e.ups[0].Requests("log/"); n != 1 {
		t.Errorf("upstream asked %d times, want once for all the clients", n)
	}
}

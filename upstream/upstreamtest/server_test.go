package upstreamtest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

type fixture struct {
	dir    string
	key    signature.SecretKey
	pub    signature.PublicKey
	path   string
	hash   string // hash part
	narURL string
	nar    []byte // the compressed NAR file as stored
	info   []byte // the narinfo as stored
}

func newFixture(t *testing.T, compression string) *fixture {
	t.Helper()
	sk, pk, err := signature.GenerateKeypair("test-1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	content := bytes.Repeat([]byte("fixture content\n"), 4096)
	paths := WriteCache(dir, sk, map[string][]byte{"fx": content}, compression)
	f := &fixture{dir: dir, key: sk, pub: pk, path: paths[0], hash: paths[0][len("/nix/store/"):][:32]}
	if f.info, err = os.ReadFile(filepath.Join(dir, f.hash+".narinfo")); err != nil {
		t.Fatal(err)
	}
	ni, err := narinfo.ParseBytes(f.info)
	if err != nil {
		t.Fatal(err)
	}
	f.narURL = ni.URL
	if f.nar, err = os.ReadFile(filepath.Join(dir, ni.URL)); err != nil {
		t.Fatal(err)
	}
	return f
}

// get fetches path and returns the status, headers, body and read error.
func get(t *testing.T, client *http.Client, url string, header http.Header) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestServesCache(t *testing.T) {
	f := newFixture(t, "zstd")
	s := New(t, f.dir)
	c := &http.Client{Timeout: 10 * time.Second}

	resp, body, err := get(t, c, s.URL+"/"+f.hash+".narinfo", nil)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, f.info) {
		t.Fatalf("narinfo: %v %v", resp, err)
	}
	if got := resp.Header.Get("Content-Type"); got != "text/x-nix-narinfo" {
		t.Errorf("narinfo Content-Type = %q", got)
	}
	resp, body, err = get(t, c, s.URL+"/nix-cache-info", nil)
	if err != nil || resp.StatusCode != 200 || !strings.Contains(string(body), "Priority: 40") {
		t.Fatalf("nix-cache-info: %q %v", body, err)
	}
	resp, body, err = get(t, c, s.URL+"/"+f.narURL, nil)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, f.nar) || resp.ContentLength != int64(len(f.nar)) {
		t.Fatalf("NAR: %v %v", resp, err)
	}
	if resp.Header.Get("Content-Encoding") != "" {
		t.Error("NAR sent with a Content-Encoding")
	}
	resp, body, err = get(t, c, s.URL+"/"+f.narURL, http.Header{"Range": {"bytes=10-"}})
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, f.nar[10:]) {
		t.Fatalf("NAR range: %v %v", resp, err)
	}
	req, _ := http.NewRequest(http.MethodHead, s.URL+"/"+f.narURL, nil)
	resp, err = c.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != int64(len(f.nar)) {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, p := range []string{"/missing.narinfo", "/../../etc/passwd", "/nar/", "/"} {
		resp, _, err = get(t, c, s.URL+p, nil)
		if err != nil || resp.StatusCode != 404 {
			t.Errorf("GET %s: %v %v, want 404", p, resp, err)
		}
	}
	if got := s.Requests(".narinfo"); got != 2 {
		t.Errorf("Requests(.narinfo) = %d, want 2", got)
	}
	if got, want := s.BytesSent("nar/"), int64(2*len(f.nar)-10); got != want {
		t.Errorf("BytesSent(nar/) = %d, want %d", got, want)
	}
}

func TestFaults(t *testing.T) {
	f := newFixture(t, "zstd")
	half := len(f.nar) / 2
	tests := []struct {
		name  string
		fault Fault
		path  string // default: the NAR
		check func(t *testing.T, resp *http.Response, body []byte, err error, elapsed time.Duration)
	}{
		{"NotFound", Fault{Kind: NotFound}, "", func(t *testing.T, resp *http.Response, body []byte, err error, _ time.Duration) {
			if err != nil || resp.StatusCode != 404 {
				t.Errorf("got %v %v, want 404", resp, err)
			}
		}},
		{"ServerError", Fault{Kind: ServerError}, "", func(t *testing.T, resp *http.Response, body []byte, err error, _ time.Duration) {
			if err != nil || resp.StatusCode != 500 {
				t.Errorf("got %v %v, want 500", resp, err)
			}
		}},
		{"Forbidden", Fault{Kind: Forbidden}, "", func(t *testing.T, resp *http.Response, body []byte, err error, _ time.Duration) {
			if err != nil || resp.StatusCode != 403 {
				t.Errorf("got %v %v, want 403", resp, err)
			}
		}},
		{"SlowFirstByte", Fault{Kind: SlowFirstByte, Delay: 300 * time.Millisecond}, "", func(t *testing.T, resp *http.Response, body []byte, err error, elapsed time.Duration) {
			if err != nil || !bytes.Equal(body, f.nar) || elapsed < 300*time.Millisecond {
				t.Errorf("got %v after %s, want the whole NAR after 300ms", err, elapsed)
			}
		}},
		{"StallMidBody", Fault{Kind: StallMidBody, Delay: 300 * time.Millisecond}, "", func(t *testing.T, resp *http.Response, body []byte, err error, elapsed time.Duration) {
			if err != nil || !bytes.Equal(body, f.nar) || elapsed < 300*time.Millisecond {
				t.Errorf("got %v after %s, want the whole NAR after 300ms", err, elapsed)
			}
		}},
		{"Truncate", Fault{Kind: Truncate}, "", func(t *testing.T, resp *http.Response, body []byte, err error, _ time.Duration) {
			if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, f.nar[:half]) {
				t.Errorf("got %d bytes, %v; want the first %d bytes and no error", len(body), err, half)
			}
		}},
		{"Corrupt", Fault{Kind: Corrupt}, "", func(t *testing.T, resp *http.Response, body []byte, err error, _ time.Duration) {
			if err != nil || len(body) != len(f.nar) || bytes.Equal(body, f.nar) {
				t.Errorf("got %d bytes, %v; want %d different bytes", len(body), err, len(f.nar))
			}
		}},
		{"Reset", Fault{Kind: Reset}, "", func(t *testing.T, resp *http.Response, body []byte, err error, _ time.Duration) {
			if err == nil || len(body) > half {
				t.Errorf("got %d bytes, %v; want a cut after at most %d bytes", len(body), err, half)
			}
		}},
		{"UntrustedSig", Fault{Kind: UntrustedSig}, "/" + f.hash + ".narinfo", func(t *testing.T, resp *http.Response, body []byte, err error, _ time.Duration) {
			ni, perr := narinfo.ParseBytes(body)
			if err != nil || perr != nil {
				t.Fatalf("narinfo: %v %v", err, perr)
			}
			if ni.Verify([]signature.PublicKey{f.pub}) || len(ni.Sigs) != 1 || !strings.HasPrefix(ni.Sigs[0], UntrustedKeyName+":") {
				t.Errorf("sigs = %q, want only a throwaway one", ni.Sigs)
			}
		}},
		{"UnknownFieldsHexHashes", Fault{Kind: UnknownFieldsHexHashes}, "/" + f.hash + ".narinfo", func(t *testing.T, resp *http.Response, body []byte, err error, _ time.Duration) {
			ni, perr := narinfo.ParseBytes(body)
			if err != nil || perr != nil {
				t.Fatalf("narinfo: %v %v", err, perr)
			}
			orig, _ := narinfo.ParseBytes(f.info)
			if !ni.Verify([]signature.PublicKey{f.pub}) || !bytes.Equal(ni.NarHash.Digest(), orig.NarHash.Digest()) || !bytes.Equal(ni.FileHash.Digest(), orig.FileHash.Digest()) {
				t.Errorf("rewritten narinfo lost its meaning:\n%s", body)
			}
			text := string(body)
			if !strings.Contains(text, "X-Future-Field: ") || strings.Contains(text, narinfo.FormatHash(orig.NarHash)) {
				t.Errorf("narinfo not rewritten:\n%s", text)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(t, f.dir)
			tt.fault.Match = tt.path
			if tt.path == "" {
				tt.fault.Match = "nar/"
				tt.path = "/" + f.narURL
			}
			s.AddFault(tt.fault)
			c := &http.Client{Timeout: 10 * time.Second}
			start := time.Now()
			resp, body, err := get(t, c, s.URL+tt.path, nil)
			tt.check(t, resp, body, err, time.Since(start))
			// Other files are untouched.
			resp, body, err = get(t, c, s.URL+"/nix-cache-info", nil)
			if err != nil || resp.StatusCode != 200 || len(body) == 0 {
				t.Errorf("nix-cache-info affected by a fault on %s: %v", tt.fault.Match, err)
			}
		})
	}
}

func TestFaultTimesAndRate(t *testing.T) {
	f := newFixture(t, "none")
	s := New(t, f.dir)
	c := &http.Client{Timeout: 10 * time.Second}
	s.AddFault(Fault{Kind: ServerError, Match: ".narinfo", Times: 2})
	var codes []int
	for range 3 {
		resp, _, err := get(t, c, s.URL+"/"+f.hash+".narinfo", nil)
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, resp.StatusCode)
	}
	if want := []int{500, 500, 200}; !equalInts(codes, want) {
		t.Errorf("statuses = %v, want %v", codes, want)
	}
	s.ClearFaults()
	s.AddFault(Fault{Kind: NotFound, Rate: 0.5})
	hits := 0
	for range 100 {
		resp, _, err := get(t, c, s.URL+"/nix-cache-info", nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 404 {
			hits++
		}
	}
	if hits < 25 || hits > 75 {
		t.Errorf("rate 0.5 hit %d of 100 requests", hits)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRateAndAuth(t *testing.T) {
	f := newFixture(t, "none")
	s := New(t, f.dir)
	c := &http.Client{Timeout: 10 * time.Second}
	rate := int64(len(f.nar)) * 4 // a quarter of a second for the whole NAR
	s.SetRate(rate)
	start := time.Now()
	_, body, err := get(t, c, s.URL+"/"+f.narURL, nil)
	if elapsed := time.Since(start); err != nil || !bytes.Equal(body, f.nar) || elapsed < 200*time.Millisecond {
		t.Errorf("throttled NAR: %v in %s, want all of it in about 250ms", err, elapsed)
	}
	s.SetRate(0)

	s.RequireAuth("tok")
	tests := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"none", nil, 401},
		{"bearer", http.Header{"Authorization": {"Bearer tok"}}, 200},
		{"wrong bearer", http.Header{"Authorization": {"Bearer nope"}}, 401},
		{"basic with empty login", http.Header{"Authorization": {"Basic OnRvaw=="}}, 200}, // ":tok"
		{"basic wrong", http.Header{"Authorization": {"Basic OnRva3M="}}, 401},
	}
	for _, tt := range tests {
		resp, _, err := get(t, c, s.URL+"/nix-cache-info", tt.header)
		if err != nil || resp.StatusCode != tt.want {
			t.Errorf("%s: %v %v, want %d", tt.name, resp.StatusCode, err, tt.want)
		}
	}
}

func TestCloseEndsStalledRequests(t *testing.T) {
	f := newFixture(t, "none")
	s, err := NewServer(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	s.AddFault(Fault{Kind: StallMidBody}) // forever
	headers := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(s.URL + "/" + f.narURL)
		close(headers)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	// Close once the response has begun (the body stalls at its half):
	// closing earlier would cut the request before any response.
	select {
	case <-headers:
	case <-time.After(10 * time.Second):
		t.Fatal("no response headers")
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a stalled request")
	}
	if err := <-errc; err == nil || errors.Is(err, io.EOF) {
		t.Errorf("stalled client got %v, want a cut", err)
	}
}

// A request waiting before its headers when the server closes is cut, never
// answered with an empty 200 (which a client would take for a file).
func TestCloseCutsSlowFirstByte(t *testing.T) {
	f := newFixture(t, "none")
	s, err := NewServer(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	s.AddFault(Fault{Kind: SlowFirstByte, Delay: time.Minute})
	const clients = 50
	codes := make(chan int, clients)
	for range clients {
		go func() {
			resp, err := http.Get(s.URL + "/nix-cache-info")
			if err != nil {
				codes <- 0
				return
			}
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				codes <- 0
				return
			}
			codes <- resp.StatusCode
		}()
	}
	for s.Requests("nix-cache-info") < clients {
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	for range clients {
		if code := <-codes; code != 0 {
			t.Fatalf("request cut by Close got HTTP %d, want a cut", code)
		}
	}
}

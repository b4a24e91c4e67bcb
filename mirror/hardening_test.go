package mirror

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A narinfo padded with unknown lines (under the size limit, signature
// intact) is served and stored with the fields Nix knows only.
func TestPaddedNarInfoStoredWithoutPadding(t *testing.T) {
	padding := "X-Padding: " + strings.Repeat("p", 32<<10) + "\n"
	e := newEnv(t, envOptions{files: smallFiles(), prepare: func(dir string) {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.narinfo"))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, append(b, padding...), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}})
	p := e.paths[0]
	resp, body, err := e.get(hashPart(p) + ".narinfo")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("narinfo: %v %v", err, resp)
	}
	if bytes.Contains(body, []byte("X-Padding")) || len(body) > 2048 {
		t.Errorf("served narinfo keeps the padding (%d bytes)", len(body))
	}
	stored, err := e.cache.NarInfo(hashPart(p))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored.Raw, []byte("X-Padding")) || len(stored.Raw) > 2048 {
		t.Errorf("stored narinfo keeps the padding (%d bytes)", len(stored.Raw))
	}
}

// An upstream that accepts connections and never answers: a NAR request
// whose narinfo is cached ends with a 504 after a bounded number of
// header timeouts, not one per attempt. (The header timeout is shorter
// than the cache's stall timeout, 1s here, as in production.)
func TestBlackHoleUpstreamNAR(t *testing.T) {
	e := newEnv(t, envOptions{files: smallFiles(), narHeaderTimeout: 100 * time.Millisecond})
	ni := e.narInfo(e.paths[0])
	addr := strings.TrimPrefix(e.ups[0].URL, "http://")
	e.ups[0].Close()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on the upstream's address: %v", err)
	}
	var accepted atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go func() {
				// Read the request, never answer it.
				line, _ := bufio.NewReader(c).ReadString('\n')
				if strings.HasPrefix(line, "GET /nar/") {
					accepted.Add(1)
				}
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })

	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		resp, _, err := e.getCtx(ctx, ni.URL)
		cancel()
		if err != nil || resp.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("request %d: %v %v, want a 504", i, resp, err)
		}
	}
	// Two header timeouts for the first request; the third (on the second
	// request) opens the back-off, so the rest are not even sent.
	if got := accepted.Load(); got > maxTimeouts+1 {
		t.Errorf("%d NAR requests sent for two client requests, want at most %d", got, maxTimeouts+1)
	}
}

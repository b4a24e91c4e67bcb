package wrk

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	out := "Running 1s test @ http://x\n  2 threads\nWRKJSON {\"requests\":100,\"duration_us\":2000000,\"bytes\":5000000,\"connect_errors\":0,\"read_errors\":1,\"write_errors\":0,\"status_errors\":2,\"timeouts\":0,\"p50_us\":150,\"p99_us\":900,\"max_us\":1200}\n"
	got, err := parse(out)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Requests: 100, DurationUS: 2000000, Bytes: 5000000, Read: 1, Status: 2, P50US: 150, P99US: 900, MaxUS: 1200}
	if got != want {
		t.Errorf("parse = %+v, want %+v", got, want)
	}
	if got.ReqPerSec() != 50 || got.MBPerSec() != 2.5 || got.Errors() != 3 {
		t.Errorf("rates: %v req/s, %v MB/s, %v errors", got.ReqPerSec(), got.MBPerSec(), got.Errors())
	}
	if _, err := parse("no summary"); err == nil {
		t.Errorf("parse without summary: no error")
	}
}

// TestRunCycles checks that wrk visits every path, when wrk is installed.
func TestRunCycles(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		mu.Unlock()
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	paths := []string{"/a", "/b", "/c", "/missing"}
	res, err := Run(context.Background(), t.TempDir(), srv.URL, paths, 4, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Status == 0 {
		t.Errorf("result %+v: want requests and status errors for /missing", res)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range paths {
		if seen[p] == 0 {
			t.Errorf("%s never requested: %v", p, seen)
		}
	}
}

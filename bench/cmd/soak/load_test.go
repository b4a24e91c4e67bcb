package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("read: %w", syscall.ECONNRESET), "reset"},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "refused"},
		{fmt.Errorf("body: %w", io.ErrUnexpectedEOF), "cut"},
		{&net.OpError{Op: "read", Err: timeoutError{}}, "timeout"},
		{errors.New("something else"), "transport"},
	}
	for _, tt := range tests {
		if got := errorKind(tt.err); got != tt.want {
			t.Errorf("errorKind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func newTracker() *tracker {
	return &tracker{
		res: &Result{ByKind: map[string]int64{}, Outcomes: map[string]map[string]int64{}, LatencyMs: map[string]latency{}},
		lat: map[string][]time.Duration{}, narinfo: map[string]time.Time{}, nar: map[string]time.Time{}, examples: map[string]int{},
	}
}

// TestStatusOnCached checks that only failures for items served before the
// grace count against the server.
func TestStatusOnCached(t *testing.T) {
	tr := newTracker()
	now := time.Now()
	tr.narinfo["old"] = now.Add(-time.Minute)
	tr.narinfo["new"] = now // served a moment ago: maybe not committed yet

	tr.status("narinfo", 502, time.Millisecond, tr.narinfo, "old", now, "bad gateway")
	tr.status("narinfo", 502, time.Millisecond, tr.narinfo, "new", now, "bad gateway")
	tr.status("narinfo", 503, time.Millisecond, tr.narinfo, "never", now, "")
	tr.status("narinfo", 404, time.Millisecond, tr.narinfo, "old", now, "")
	tr.status("narinfo", 200, time.Millisecond, tr.narinfo, "old", now, "")

	if got := tr.res.ServerErrorsOnCached; got != 1 {
		t.Errorf("ServerErrorsOnCached = %d, want 1", got)
	}
	if got := tr.res.NotFoundOnCached; got != 1 {
		t.Errorf("NotFoundOnCached = %d, want 1", got)
	}
	if got := tr.res.Outcomes["narinfo"]["502"]; got != 2 {
		t.Errorf("502 outcomes = %d, want 2", got)
	}
	if got := tr.res.Requests; got != 5 {
		t.Errorf("Requests = %d, want 5", got)
	}
}

// TestAbsentNarInfoServed counts a 200 for a path nobody has as a wrong narinfo.
func TestAbsentNarInfoServed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "StorePath: /nix/store/x\n")
	}))
	defer srv.Close()
	tr := newTracker()
	tr.absent(context.Background(), srv.Client(), srv.URL, rand.New(rand.NewPCG(1, 2)))
	if tr.res.WrongNarInfos != 1 {
		t.Errorf("WrongNarInfos = %d, want 1", tr.res.WrongNarInfos)
	}
}

package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// logLines decodes the JSON lines written to buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	buf.Reset()
	return out
}

func TestBreakerLogsBackOff(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	now := time.Unix(1000, 0)
	u := &Upstream{name: "http://up.example", log: log.With("upstream", "http://up.example")}
	u.breaker.now = func() time.Time { return now }
	cause := errors.New("connection refused")

	for range breakerThreshold - 1 {
		u.report(healthDown, cause)
	}
	if lines := logLines(t, &buf); len(lines) != 0 {
		t.Fatalf("logged before the back-off began: %v", lines)
	}
	u.report(healthDown, cause)
	lines := logLines(t, &buf)
	if len(lines) != 1 {
		t.Fatalf("got %d lines when the back-off began, want 1: %v", len(lines), lines)
	}
	want := map[string]any{"level": "WARN", "upstream": "http://up.example", "failures": float64(breakerThreshold),
		"for": float64(breakerMinOpen), "err": "connection refused"}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("back-off line: %s = %v, want %v (%v)", k, lines[0][k], v, lines[0])
		}
	}

	// A failed probe starts a longer period, warned about too.
	now = now.Add(breakerMinOpen)
	if !u.breaker.allow() {
		t.Fatal("no probe after the period")
	}
	u.report(healthDown, cause)
	if lines := logLines(t, &buf); len(lines) != 1 || lines[0]["for"] != float64(2*breakerMinOpen) {
		t.Fatalf("failed probe: %v, want one warning for %s", lines, 2*breakerMinOpen)
	}

	now = now.Add(2 * breakerMinOpen)
	if !u.breaker.allow() {
		t.Fatal("no probe after the second period")
	}
	u.report(healthUp, nil)
	lines = logLines(t, &buf)
	if len(lines) != 1 || lines[0]["level"] != "INFO" || lines[0]["upstream"] != "http://up.example" {
		t.Fatalf("end of back-off: %v, want one info line naming the upstream", lines)
	}
	if !strings.Contains(lines[0]["msg"].(string), "answers again") {
		t.Errorf("end of back-off message %q", lines[0]["msg"])
	}
	u.report(healthUp, nil)
	if lines := logLines(t, &buf); len(lines) != 0 {
		t.Errorf("logged a success with no back-off: %v", lines)
	}
}

// status reads as people would say it, before and after a back-off.
func TestBreakerStatus(t *testing.T) {
	now := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	b := &breaker{now: func() time.Time { return now }}
	if got := b.status(); got != "answering" {
		t.Errorf("fresh breaker: %q", got)
	}
	for range breakerThreshold {
		b.failure(errors.New("refused"))
	}
	if got := b.status(); !strings.HasPrefix(got, "backing off after 3 failures since 2026-12-02T07:00:00Z") {
		t.Errorf("open breaker: %q", got)
	}
	b.success()
	if got := b.status(); got != "answering" {
		t.Errorf("closed again: %q", got)
	}
}

package upstream

import (
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	now := time.Unix(1000, 0)
	b := &breaker{now: func() time.Time { return now }}
	for i := range breakerThreshold - 1 {
		b.failure(nil)
		if !b.allow() {
			t.Fatalf("skipped after %d failures", i+1)
		}
		b.done()
	}
	b.failure(nil)
	if b.allow() {
		t.Fatal("allowed right after the breaker opened")
	}
	now = now.Add(breakerMinOpen)
	if !b.allow() {
		t.Fatal("no probe after the open period")
	}
	if b.allow() {
		t.Fatal("a second request went through while the probe was in flight")
	}
	b.failure(nil) // the probe failed: open twice as long
	now = now.Add(breakerMinOpen)
	if b.allow() {
		t.Fatal("allowed before the doubled open period ended")
	}
	now = now.Add(breakerMinOpen)
	if !b.allow() {
		t.Fatal("no probe after the doubled open period")
	}
	b.done() // a canceled probe frees the slot without a verdict
	if !b.allow() {
		t.Fatal("no new probe after a canceled one")
	}
	b.success()
	for range 5 {
		if !b.allow() {
			t.Fatal("skipped after the probe succeeded")
		}
	}

	// Many failures of one outage (requests in flight together) open it once.
	for range 20 {
		b.failure(nil)
	}
	if b.openFor != breakerMinOpen {
		t.Errorf("open for %s after one burst, want %s", b.openFor, breakerMinOpen)
	}
	// Each failed probe doubles the period, up to the cap.
	for range 10 {
		now = now.Add(b.openFor)
		if !b.allow() {
			t.Fatal("no probe after the open period")
		}
		b.failure(nil)
	}
	if b.openFor != breakerMaxOpen {
		t.Errorf("open for %s, want the cap %s", b.openFor, breakerMaxOpen)
	}
}

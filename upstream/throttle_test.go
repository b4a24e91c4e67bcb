package upstream

import (
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	var th throttle
	now := time.Unix(1000, 0)
	if ok, n := th.allow(now, time.Second); !ok || n != 0 {
		t.Fatalf("first: %v %d", ok, n)
	}
	for i := 0; i < 5; i++ {
		if ok, _ := th.allow(now.Add(time.Duration(i)*100*time.Millisecond), time.Second); ok {
			t.Fatalf("event %d within the interval went through", i)
		}
	}
	if ok, n := th.allow(now.Add(time.Second), time.Second); !ok || n != 5 {
		t.Fatalf("after the interval: %v, suppressed %d, want true, 5", ok, n)
	}
}

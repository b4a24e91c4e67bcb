package upstream

import (
	"net/url"
	"path"
	"strings"
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

func TestParseNetrc(t *testing.T) {
	text := `# comment
machine a.example login alice password pa
machine b.example
  login ""
  password tok
macdef init
  cd /pub

default login anon password guest
`
	n, err := parseNetrc(text)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ host, login, password string }{
		{"a.example", "alice", "pa"},
		{"B.example", "", "tok"},
		{"other.example", "anon", "guest"},
	}
	for _, tt := range tests {
		login, password, ok := n.lookup(tt.host)
		if !ok || login != tt.login || password != tt.password {
			t.Errorf("lookup(%s) = %q, %q, %v; want %q, %q", tt.host, login, password, ok, tt.login, tt.password)
		}
	}
	if _, err := parseNetrc("machine x login"); err == nil {
		t.Error("a login without a value was accepted")
	}
}

func FuzzParseNetrc(f *testing.F) {
	f.Add("machine a login b password c\ndefault password d\n")
	f.Add("macdef x\n  y\n\nmachine m password p")
	f.Add("# c\nmachine \"q\" login \"\" password p")
	f.Fuzz(func(t *testing.T, text string) {
		n, err := parseNetrc(text)
		if err != nil {
			return
		}
		n.lookup("cache.example")
	})
}

func FuzzNARTarget(f *testing.F) {
	for _, s := range []string{"nar/x.nar.xz", "nar/x.nar?hash=y", "../x", "//evil/x", "nar/%2e%2e/x", "http://e/x"} {
		f.Add(s)
	}
	base, err := parseBaseURL("https://cache.example/sub")
	if err != nil {
		f.Fatal(err)
	}
	u := &Upstream{name: base.String(), base: base}
	f.Fuzz(func(t *testing.T, narURL string) {
		target, err := u.narTarget(narURL)
		if err != nil {
			return
		}
		got, err := url.Parse(target)
		if err != nil {
			t.Fatalf("accepted %q but the target %q does not parse: %v", narURL, target, err)
		}
		if got.Scheme != "https" || got.Host != "cache.example" || got.User != nil ||
			!strings.HasPrefix(got.Path, "/sub/") || path.Clean(got.Path) != got.Path {
			t.Fatalf("accepted %q leading to %q", narURL, target)
		}
	})
}

package tmpfs

import (
	"testing"
)

// outcomeTB records whether a helper skipped or failed the test.
type outcomeTB struct {
	testing.TB
	skipped, failed bool
}

func (o *outcomeTB) Skipf(string, ...any)  { o.skipped = true; panic(o) }
func (o *outcomeTB) Fatalf(string, ...any) { o.failed = true; panic(o) }

// run calls f with o, stopping where f skips or fails.
func (o *outcomeTB) run(f func(testing.TB)) {
	defer func() {
		if r := recover(); r != nil && r != any(o) {
			panic(r)
		}
	}()
	f(o)
}

func TestMountFailsUnderCI(t *testing.T) {
	for _, tt := range []struct {
		ci         string
		wantFailed bool
	}{{"", false}, {"true", true}} {
		t.Setenv("CI", tt.ci)
		o := &outcomeTB{TB: t}
		o.run(func(tb testing.TB) { Mount(tb, "not-a-size") }) // mount refuses it
		if o.failed != tt.wantFailed || o.skipped == tt.wantFailed {
			t.Errorf("CI=%q: failed %v, skipped %v; want failed %v", tt.ci, o.failed, o.skipped, tt.wantFailed)
		}
	}
}

package upstream

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

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

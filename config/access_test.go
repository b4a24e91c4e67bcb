package config

import (
	"slices"
	"strings"
	"testing"
)

func TestAccessSettings(t *testing.T) {
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TokenFiles) != 0 || c.Private || c.MetricsListen != "" {
		t.Errorf("defaults: tokens %v, private %v, metrics-listen %q", c.TokenFiles, c.Private, c.MetricsListen)
	}
	// The top-level token-file is the clients'; an upstream's is its own.
	p := writeFile(t, `
token-file = ["/run/secrets/a", "/run/secrets/b"]
private = true
metrics-listen = "127.0.0.1:9100"

[[upstream]]
url = "https://example.cachix.org"
token-file = "/run/secrets/cachix"
`)
	c, err = load(t, "--config", p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.TokenFiles, []string{"/run/secrets/a", "/run/secrets/b"}) || !c.Private ||
		c.MetricsListen != "127.0.0.1:9100" || c.Upstreams[0].TokenFile != "/run/secrets/cachix" {
		t.Errorf("from file: %+v", c)
	}
	c, err = load(t, "--config", p, "--token-file", "/c", "--token-file", "/d", "--private=false")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.TokenFiles, []string{"/c", "/d"}) || c.Private {
		t.Errorf("flags win: tokens %v, private %v", c.TokenFiles, c.Private)
	}
}

func TestAccessSettingsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--private"}, "--private: needs a --token-file"},
		{[]string{"--metrics-listen", "9100"}, "--metrics-listen"},
	} {
		_, err := load(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

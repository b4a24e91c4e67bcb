package config

import (
	"strings"
	"testing"
	"time"
)

func TestUpstreamTimeouts(t *testing.T) {
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(c.UpstreamLookupTimeout); got != 5*time.Second {
		t.Errorf("default upstream-lookup-timeout = %v, want 5s", got)
	}
	if got := time.Duration(c.UpstreamNARHeaderTimeout); got != 10*time.Second {
		t.Errorf("default upstream-nar-header-timeout = %v, want 10s", got)
	}

	p := writeFile(t, "upstream-lookup-timeout = \"3s\"\nupstream-nar-header-timeout = \"4s\"\n")
	c, err = load(t, "--config", p, "--upstream-nar-header-timeout", "7s")
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(c.UpstreamLookupTimeout); got != 3*time.Second {
		t.Errorf("upstream-lookup-timeout from file = %v, want 3s", got)
	}
	if got := time.Duration(c.UpstreamNARHeaderTimeout); got != 7*time.Second {
		t.Errorf("upstream-nar-header-timeout: flag must win, got %v", got)
	}

	for _, args := range [][]string{
		{"--upstream-lookup-timeout", "0s"},
		{"--upstream-nar-header-timeout", "0s"},
		{"--upstream-nar-header-timeout", "31s"},
	} {
		_, err := load(t, args...)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: err = %v, want it named", args, err)
		}
	}
}

package main

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
)

const (
	e2eReadToken    = "read-5b0c8e1f2a9d4c7e8f6a"
	e2eMetricsToken = "metrics-1d3f5a7c9e2b4d6f"
	e2eWrongToken   = "wrong-00000000000000000000"
)

// privateCache serves a chroot store of fx with reads behind a token and
// metrics on their own listener. It returns the server, the metrics URL
// and the public key.
func privateCache(t *testing.T, fx *nixtest.Fixture) (*proc, string, string) {
	t.Helper()
	store := fx.ChrootStore(t)
	sec, _, pub := nixtest.Key(t, "private-test-1")
	tokens := writeSecret(t, "tokens", "# name scopes secret\nlaptops read "+e2eReadToken+"\nprometheus metrics "+e2eMetricsToken+"\n")
	p := start(t, "serve", "--listen", "127.0.0.1:0", "--store-root", store, "--local-store", "true",
		"--secret-key-file", sec, "--upstream", "none", "--private", "--token-file", tokens,
		"--metrics-listen", "127.0.0.1:0")
	_, addr, ok := strings.Cut(p.log(), `msg="serving metrics" addr=`)
	if !ok {
		t.Fatalf("no metrics listener in the log:\n%s", p.log())
	}
	return p, "http://" + strings.Fields(addr)[0] + "/metrics", pub
}

func writeSecret(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// netrc writes the netrc a host of the fleet would hold for the cache.
func netrc(t *testing.T, token string) string {
	return writeSecret(t, "netrc", "machine 127.0.0.1 password "+token+"\n")
}

// nixCopy runs nix copy --from the cache with netrcFile ("" for none) and
// returns its combined output and error.
func nixCopy(t *testing.T, p *proc, netrcFile, pub, dst string, paths ...string) (string, error) {
	if netrcFile == "" {
		netrcFile = "/dev/null"
	}
	args := append([]string{"copy", "--from", p.url(), "--to", dst, "--option", "netrc-file", netrcFile,
		"--option", "trusted-public-keys", pub}, paths...)
	out, err := command(nixtest.Env(t), "nix", args...).CombinedOutput()
	return string(out), err
}

// TestPrivateCacheWithNix substitutes through a private cache with the
// real Nix client: the read token in a netrc works, none or a wrong one
// copies nothing, and nix-cache-info stays open.
func TestPrivateCacheWithNix(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{BigSize: 12 << 20})
	p, metricsURL, pub := privateCache(t, fx)
	env := nixtest.Env(t)

	t.Run("read token", func(t *testing.T) {
		dst := t.TempDir()
		if out, err := nixCopy(t, p, netrc(t, e2eReadToken), pub, dst, fx.Root); err != nil {
			t.Fatalf("nix copy with the read token: %v\n%s", err, out)
		}
		nixtest.Run(t, env, "nix", "store", "verify", "--store", dst,
			"--option", "trusted-public-keys", pub, "-r", fx.Root)
		if got := nixtest.PathInfo(t, env, dst, fx.Paths...); len(got) != len(fx.Paths) {
			t.Errorf("%d of %d paths arrived", len(got), len(fx.Paths))
		}
	})

	for _, tc := range []struct {
		name, netrc, reason string
	}{
		{"no token", "", "no-credentials"},
		{"wrong token", netrc(t, e2eWrongToken), "bad-credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := metricValue(t, metricsURL, `private_nix_cache_auth_refused_total{reason="`+tc.reason+`"}`)
			dst := t.TempDir()
			if out, err := nixCopy(t, p, tc.netrc, pub, dst, fx.Root); err == nil {
				t.Fatalf("nix copy succeeded:\n%s", out)
			}
			if _, err := os.Stat(filepath.Join(dst, "nix", "store", filepath.Base(fx.Root))); !os.IsNotExist(err) {
				t.Errorf("the root arrived anyway: %v", err)
			}
			if after := metricValue(t, metricsURL, `private_nix_cache_auth_refused_total{reason="`+tc.reason+`"}`); after <= before {
				t.Errorf("refusals %s not counted: %v, then %v", tc.reason, before, after)
			}
		})
	}

	t.Run("statuses", func(t *testing.T) {
		hash := strings.SplitN(filepath.Base(fx.Root), "-", 2)[0]
		for _, tc := range []struct {
			path, token string
			want        int
		}{
			{"/nix-cache-info", "", 200},
			{"/nix-cache-info", e2eWrongToken, 200},
			{"/" + hash + ".narinfo", "", 401},
			{"/" + hash + ".narinfo", e2eMetricsToken, 403},
			{"/" + hash + ".narinfo", e2eReadToken, 200},
			{"/metrics", e2eReadToken, 404}, // moved to --metrics-listen
		} {
			resp := request(t, p.url()+tc.path, tc.token)
			if resp.StatusCode != tc.want {
				t.Errorf("%s with %q: %s, want %d", tc.path, tc.token, resp.Status, tc.want)
			}
			if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="private-nix-cache"` {
				t.Errorf("%s: WWW-Authenticate %q", tc.path, resp.Header.Get("WWW-Authenticate"))
			}
		}
	})
}

// TestPrivateCacheBackoffWithNix backs an address off after ten wrong
// tokens: even the right one is then refused with 429, and Nix fails.
func TestPrivateCacheBackoffWithNix(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{BigSize: 12 << 20})
	p, metricsURL, pub := privateCache(t, fx)
	narinfo := p.url() + "/" + strings.SplitN(filepath.Base(fx.Root), "-", 2)[0] + ".narinfo"
	for i := range 10 {
		if resp := request(t, narinfo, e2eWrongToken); resp.StatusCode != 401 {
			t.Fatalf("wrong token %d: %s", i, resp.Status)
		}
	}
	resp := request(t, narinfo, e2eReadToken)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("right token while backed off: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	out, err := nixCopy(t, p, netrc(t, e2eReadToken), pub, t.TempDir(), fx.Root)
	if err == nil || !strings.Contains(out, "429") {
		t.Fatalf("nix copy while backed off: %v\n%s", err, out)
	}
	if got := metricValue(t, metricsURL, "private_nix_cache_auth_backoffs_total"); got != 1 {
		t.Errorf("backoffs counted %v", got)
	}
	if !strings.Contains(p.log(), "msg=\"bad credentials\"") {
		t.Errorf("bad credentials not logged:\n%s", p.log())
	}
}

// request GETs url with token as Basic password ("" for none).
func request(t *testing.T, url, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.SetBasicAuth("", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// metricValue reads one series from a Prometheus text page; absent is 0.
func metricValue(t *testing.T, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

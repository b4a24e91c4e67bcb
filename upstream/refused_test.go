package upstream_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/upstream"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

const (
	refusedMsg = `msg="upstream refused our credentials; its paths look absent"`
	hintAttr   = `hint="check its token-file / netrc-file"`
	goodToken  = "g00d-t0ken-value"
	badToken   = "expired-t0ken-value"
)

// writeSecret writes a 0600 file under dir and returns its path.
func writeSecret(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// logLines returns the lines of logs that contain every one of subs.
func logLines(logs string, subs ...string) []string {
	var out []string
lines:
	for _, l := range strings.Split(logs, "\n") {
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue lines
			}
		}
		out = append(out, l)
	}
	return out
}

func bufferLogger(b *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestRefusedCredentialsAreMissesWithAWarning(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	dir := t.TempDir()
	wrongToken := writeSecret(t, dir, "token", badToken+"\n")
	wrongNetrc := writeSecret(t, dir, "netrc", "machine 127.0.0.1 password "+badToken+"\n")
	forbidden := upstreamtest.Fault{Kind: upstreamtest.Forbidden}

	tests := []struct {
		name        string
		cfg         upstream.Config
		requireAuth bool // the fake wants goodToken
		faults      []upstreamtest.Fault
		status      int
		credentials string
	}{
		{name: "no credentials", requireAuth: true, status: 401, credentials: "none"},
		{name: "wrong token", cfg: upstream.Config{TokenFile: wrongToken}, requireAuth: true, status: 401, credentials: "token-file"},
		{name: "wrong netrc password", cfg: upstream.Config{NetrcFile: wrongNetrc}, requireAuth: true, status: 401, credentials: "netrc-file"},
		{name: "token without access", cfg: upstream.Config{TokenFile: wrongToken}, faults: []upstreamtest.Fault{forbidden}, status: 403, credentials: "token-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeCache(t, key, map[string][]byte{"a": []byte("a\n"), "b": []byte("b\n"), "c": []byte("c\n")})
			if tt.requireAuth {
				c.srv.RequireAuth(goodToken)
			}
			for _, f := range tt.faults {
				c.srv.AddFault(f)
			}
			var logs lockedBuffer
			reg := prometheus.NewRegistry()
			cfg := tt.cfg
			cfg.URL, cfg.Priority = c.srv.URL, 1 // no nix-cache-info request
			s := newSet(t, []upstream.Config{cfg}, upstream.Options{
				Trusted: []string{key.Public}, Logger: bufferLogger(&logs), Registerer: reg,
			})

			// Well within the throttle window of one warning per upstream.
			for _, p := range c.paths {
				_, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(p))
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("Lookup %s: err = %v, want not-exist (a refusal is a miss)", p, err)
				}
			}
			errorsOf := func(kind string) float64 {
				return counterValue(t, reg, "private_nix_cache_upstream_errors_total",
					map[string]string{"upstream": c.srv.URL, "kind": kind})
			}
			if got, want := errorsOf("auth"), float64(len(c.paths)); got != want {
				t.Errorf("errors{kind=auth} = %v, want %v", got, want)
			}
			if got := errorsOf("narinfo"); got != 0 {
				t.Errorf("errors{kind=narinfo} = %v, want 0", got)
			}

			out := logs.String()
			warnings := logLines(out, "level=WARN", refusedMsg)
			if len(warnings) != 1 {
				t.Fatalf("%d refusal warnings, want 1 within the throttle window; logs:\n%s", len(warnings), out)
			}
			for _, want := range []string{
				"upstream=" + c.srv.URL, "status=" + strconv.Itoa(tt.status),
				"request=narinfo", "credentials=" + tt.credentials, hintAttr,
			} {
				if !strings.Contains(warnings[0], want) {
					t.Errorf("warning %q lacks %q", warnings[0], want)
				}
			}

			// A NAR refused the same way counts as auth too, and says why.
			_, _, err := s.Upstreams()[0].FetchNAR(ctxTimeout(t, 10*time.Second), "nar/any.nar.zst", 0)
			var se *upstream.StatusError
			if !errors.As(err, &se) || se.Code != tt.status {
				t.Fatalf("FetchNAR: err = %v, want a StatusError %d", err, tt.status)
			}
			if got, want := errorsOf("auth"), float64(len(c.paths)+1); got != want {
				t.Errorf("after the NAR: errors{kind=auth} = %v, want %v", got, want)
			}
			if got := errorsOf("nar"); got != 0 {
				t.Errorf("errors{kind=nar} = %v, want 0", got)
			}
			if len(logLines(logs.String(), "upstream nar fetch failed", hintAttr)) != 1 {
				t.Errorf("the failed NAR fetch is not logged with the hint; logs:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), badToken) {
				t.Error("the token appears in the logs")
			}
		})
	}
}

func TestProbe(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	wrongToken := writeSecret(t, t.TempDir(), "token", badToken)
	tests := []struct {
		name        string
		priority    int // configured; 0: from nix-cache-info
		token       string
		requireAuth bool
		faults      []upstreamtest.Fault
		cacheInfo   string // replaces nix-cache-info when set
		closed      bool   // nothing listens
		timeout     time.Duration
		wantWarn    []string // substrings of the one warning; nil: no warning
		wantAuth    float64  // errors{kind=auth}
		wantPrio    int      // Priority() afterwards
	}{
		{
			name: "answers, priority learned", cacheInfo: "StoreDir: /nix/store\nPriority: 30\n",
			wantPrio: 30,
		},
		{
			name: "wrong token, priority learned", token: wrongToken, requireAuth: true,
			wantWarn: []string{refusedMsg, "status=401", "request=cache_info", "credentials=token-file", hintAttr},
			wantAuth: 1, wantPrio: 50,
		},
		{
			name: "no token, priority configured", priority: 10, requireAuth: true,
			wantWarn: []string{refusedMsg, "status=401", "credentials=none", hintAttr},
			wantAuth: 1, wantPrio: 10,
		},
		{
			name: "forbidden", priority: 10, faults: []upstreamtest.Fault{{Kind: upstreamtest.Forbidden, Match: "nix-cache-info"}},
			wantWarn: []string{refusedMsg, "status=403", hintAttr},
			wantAuth: 1, wantPrio: 10,
		},
		{
			name: "server error", faults: []upstreamtest.Fault{{Kind: upstreamtest.ServerError}},
			wantWarn: []string{`msg="upstream unreachable for now"`, "500", "priority=50"},
			wantPrio: 50,
		},
		{
			name: "no answer in time", priority: 10, timeout: 300 * time.Millisecond,
			faults:   []upstreamtest.Fault{{Kind: upstreamtest.SlowFirstByte, Delay: time.Minute}},
			wantWarn: []string{`msg="upstream unreachable for now"`, "timed out"},
			wantPrio: 10,
		},
		{
			name: "nothing listens", closed: true,
			wantWarn: []string{`msg="upstream unreachable for now"`},
			wantPrio: 50,
		},
		{
			name: "unreadable nix-cache-info", cacheInfo: "StoreDir: /nix/store\nPriority: high\n",
			wantWarn: []string{`msg="cannot read upstream nix-cache-info"`, "not an integer"},
			wantPrio: 50,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeCache(t, key, map[string][]byte{"a": []byte("a\n")})
			if tt.requireAuth {
				c.srv.RequireAuth(goodToken)
			}
			for _, f := range tt.faults {
				c.srv.AddFault(f)
			}
			if tt.cacheInfo != "" {
				if err := os.WriteFile(filepath.Join(c.dir, "nix-cache-info"), []byte(tt.cacheInfo), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.closed {
				c.srv.Close()
			}
			var logs lockedBuffer
			reg := prometheus.NewRegistry()
			s := newSet(t, []upstream.Config{{URL: c.srv.URL, Priority: tt.priority, TokenFile: tt.token}}, upstream.Options{
				Trusted: []string{key.Public}, Logger: bufferLogger(&logs), Registerer: reg, LookupTimeout: tt.timeout,
			})

			start := time.Now()
			s.Probe(ctxTimeout(t, 30*time.Second))
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Errorf("Probe took %s, want it bounded by the lookup timeout", elapsed)
			}

			out := logs.String()
			warnings := logLines(out, "level=WARN")
			switch {
			case tt.wantWarn == nil && len(warnings) != 0:
				t.Errorf("unexpected warnings:\n%s", strings.Join(warnings, "\n"))
			case tt.wantWarn != nil && len(warnings) != 1:
				t.Errorf("%d warnings, want 1; logs:\n%s", len(warnings), out)
			case tt.wantWarn != nil:
				for _, want := range tt.wantWarn {
					if !strings.Contains(warnings[0], want) {
						t.Errorf("warning %q lacks %q", warnings[0], want)
					}
				}
				if !strings.Contains(warnings[0], "upstream="+c.srv.URL) {
					t.Errorf("warning %q does not name the upstream", warnings[0])
				}
			default:
				if len(logLines(out, "level=INFO", `msg="upstream answers"`)) != 1 {
					t.Errorf("no line says the upstream answers; logs:\n%s", out)
				}
			}
			if got := counterValue(t, reg, "private_nix_cache_upstream_errors_total",
				map[string]string{"upstream": c.srv.URL, "kind": "auth"}); got != tt.wantAuth {
				t.Errorf("errors{kind=auth} = %v, want %v", got, tt.wantAuth)
			}

			// The probe's answer is the priority's: no second request.
			if got := s.Upstreams()[0].Priority(); got != tt.wantPrio {
				t.Errorf("Priority() = %d, want %d", got, tt.wantPrio)
			}
			if got, want := c.srv.Requests("nix-cache-info"), 1; !tt.closed && got != want {
				t.Errorf("%d nix-cache-info requests, want %d", got, want)
			}
		})
	}
}

func TestProbeStopsWithItsContext(t *testing.T) {
	key := upstreamtest.NewKey(t, "test-1")
	c := newFakeCache(t, key, map[string][]byte{"a": []byte("a\n")})
	c.srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.SlowFirstByte, Delay: time.Minute})
	var logs lockedBuffer
	s := newSet(t, []upstream.Config{{URL: c.srv.URL}}, upstream.Options{
		Trusted: []string{key.Public}, Logger: bufferLogger(&logs), LookupTimeout: time.Minute,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Probe(ctx)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Probe did not return after its context ended")
	}
}

package upstream_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/config"
	"github.com/private-nix-cache/private-nix-cache/upstream"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// lockedBuffer collects log output from concurrent goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestCredentials(t *testing.T) {
	const token = "s3cr3t-t0ken-value"
	key := upstreamtest.NewKey(t, "test-1")
	c := newFakeCache(t, key, map[string][]byte{"a": []byte("a\n")})
	c.srv.RequireAuth(token)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokenFile := write("token", token+"\n")
	netrc := write("netrc", "machine 127.0.0.1 password "+token+"\n")
	otherNetrc := write("other-netrc", "machine cache.example password "+token+"\n")
	wrongToken := write("wrong", "nope")

	tests := []struct {
		name  string
		cfg   upstream.Config
		netrc string // Options.NetrcFile
		found bool
	}{
		{name: "none", found: false},
		{name: "bearer token", cfg: upstream.Config{TokenFile: tokenFile}, found: true},
		{name: "wrong token", cfg: upstream.Config{TokenFile: wrongToken}, found: false},
		{name: "upstream netrc", cfg: upstream.Config{NetrcFile: netrc}, found: true},
		{name: "global netrc", netrc: netrc, found: true},
		{name: "own netrc wins over global", cfg: upstream.Config{NetrcFile: otherNetrc}, netrc: netrc, found: false},
		{name: "netrc for another host", netrc: otherNetrc, found: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs lockedBuffer
			cfg := tt.cfg
			cfg.URL, cfg.Priority = c.srv.URL, 1
			s := newSet(t, []upstream.Config{cfg}, upstream.Options{
				Trusted: []string{key.Public}, NetrcFile: tt.netrc,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			})
			f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(c.paths[0]))
			if !tt.found {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("Lookup: err = %v, want not-exist (401 is a miss)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			body, _, err := f.Upstream.FetchNAR(ctxTimeout(t, 10*time.Second), f.NarInfo.URL, 0)
			if err != nil {
				t.Fatalf("FetchNAR: %v", err)
			}
			io.Copy(io.Discard, body)
			body.Close()
			if strings.Contains(logs.String(), token) {
				t.Error("the token appears in the logs")
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	tests := []struct {
		name string
		cfgs []upstream.Config
		opts upstream.Options
	}{
		{"ftp scheme", []upstream.Config{{URL: "ftp://cache.example"}}, upstream.Options{}},
		{"no scheme", []upstream.Config{{URL: "cache.example"}}, upstream.Options{}},
		{"userinfo", []upstream.Config{{URL: "https://user:pw@cache.example"}}, upstream.Options{}},
		{"query", []upstream.Config{{URL: "https://cache.example/?x=1"}}, upstream.Options{}},
		{"twice", []upstream.Config{{URL: "https://cache.example"}, {URL: "https://cache.example/"}}, upstream.Options{}},
		{"bad upstream key", []upstream.Config{{URL: "https://cache.example", PublicKeys: []string{"nope"}}}, upstream.Options{}},
		{"bad trusted key", nil, upstream.Options{Trusted: []string{"x:AAAA"}}},
		{"missing token file", []upstream.Config{{URL: "https://cache.example", TokenFile: "/nonexistent/token"}}, upstream.Options{}},
		{"empty token file", []upstream.Config{{URL: "https://cache.example", TokenFile: empty}}, upstream.Options{}},
		{"missing netrc", nil, upstream.Options{NetrcFile: "/nonexistent/netrc"}},
		{"negative priority", []upstream.Config{{URL: "https://cache.example", Priority: -1}}, upstream.Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := upstream.New(tt.cfgs, tt.opts)
			if err == nil {
				t.Fatal("New accepted it")
			}
			if strings.Contains(err.Error(), ":pw@") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	official := []upstream.Config{{URL: "https://cache.nixos.org", PublicKeys: []string{config.CacheNixosOrgKey}}}
	if _, err := upstream.New(official, upstream.Options{}); err != nil {
		t.Errorf("cache.nixos.org with its key: %v", err)
	}
}

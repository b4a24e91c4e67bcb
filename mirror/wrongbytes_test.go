package mirror

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/cache/disk"
)

// swapNarFile makes the upstream serve, for the path of the first narinfo
// of dir, the NAR file of the second one, with FileHash and FileSize
// rewritten to match (the signature does not cover them). It returns the
// hash part of the path so served.
func swapNarFile(t *testing.T, dir string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.narinfo"))
	if err != nil || len(names) < 2 {
		t.Fatalf("narinfos: %v, %v", names, err)
	}
	field := func(text []byte, key string) string {
		m := regexp.MustCompile("(?m)^" + key + ": (.*)$").FindSubmatch(text)
		if m == nil {
			t.Fatalf("no %s in %s", key, text)
		}
		return string(m[1])
	}
	victim, err := os.ReadFile(names[0])
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(names[1])
	if err != nil {
		t.Fatal(err)
	}
	otherFile, err := os.ReadFile(filepath.Join(dir, field(other, "URL")))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, field(victim, "URL")), otherFile, 0o644); err != nil {
		t.Fatal(err)
	}
	text := string(victim)
	for _, key := range []string{"FileHash", "FileSize"} {
		text = strings.Replace(text, key+": "+field(victim, key), key+": "+field(other, key), 1)
	}
	if err := os.WriteFile(names[0], []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(filepath.Base(names[0]), ".narinfo")
}

// Another valid NAR file behind a rewritten FileHash is never served as a
// 200 with its last byte, whether the mirror downloads it into memory or
// streams it without storing; the upstream is blamed each time until it
// is excluded for the path, and nothing is stored.
func TestRewrittenFileHashNeverServed(t *testing.T) {
	tests := []struct {
		name string
		size int
		opts disk.Options
	}{
		{"in memory", 64 << 10, disk.Options{}},
		{"pass-through", 2 << 20, disk.Options{MaxSize: 1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var victim string
			files := map[string][]byte{"a": randomBytes(11, tt.size), "b": randomBytes(12, tt.size)}
			e := newEnv(t, envOptions{files: files, cache: tt.opts, prepare: func(dir string) { victim = swapNarFile(t, dir) }})
			var p string
			for _, sp := range e.paths {
				if hashPart(sp) == victim {
					p = sp
				}
			}
			ni := e.narInfo(p)
			served := e.upstreamFile(p)
			for i := range 3 {
				resp, body, err := e.get(ni.URL)
				if err == nil && resp.StatusCode == http.StatusOK {
					t.Fatalf("GET %d: a complete 200 of another NAR (%d bytes)", i, len(body))
				}
				if len(body) >= len(served) {
					t.Fatalf("GET %d: got the last byte (%d of %d)", i, len(body), len(served))
				}
			}
			// Blamed every time: now excluded, and not asked again.
			before := e.ups[0].Requests("/nar/")
			if resp, _, err := e.get(ni.URL); err != nil || resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("excluded upstream: %v %v, want 502", err, resp)
			}
			if got := e.ups[0].Requests("/nar/"); got != before {
				t.Errorf("excluded upstream asked %d more times", got-before)
			}
			if n, err := e.fill.OpenNAR(t.Context(), strings.TrimPrefix(ni.URL, URLPrefix), nil); err == nil {
				n.Close()
				t.Fatal("another NAR stored under this one's name")
			}
		})
	}
}

// A narinfo whose compression cannot be decoded here is not handed out:
// its NAR could not be checked before a client had every byte. Compression
// is not signed, so an upstream may rewrite it.
func TestUnverifiableCompressionRefused(t *testing.T) {
	var victim string
	files := map[string][]byte{"a": randomBytes(13, 4<<10), "b": randomBytes(14, 4<<10)}
	e := newEnv(t, envOptions{files: files, prepare: func(dir string) {
		names, err := filepath.Glob(filepath.Join(dir, "*.narinfo"))
		if err != nil || len(names) == 0 {
			t.Fatalf("narinfos: %v, %v", names, err)
		}
		text, err := os.ReadFile(names[0])
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile("(?m)^Compression: .*$")
		if err := os.WriteFile(names[0], re.ReplaceAll(text, []byte("Compression: br")), 0o644); err != nil {
			t.Fatal(err)
		}
		victim = strings.TrimSuffix(filepath.Base(names[0]), ".narinfo")
	}})
	resp, _, err := e.get(victim + ".narinfo")
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("narinfo with Compression: br: %v %v, want 404", err, resp)
	}
}

// X-Cache says whether the mirror answered from its store or asked an
// upstream now, for narinfos and NARs alike.
func TestCacheOutcomeHeader(t *testing.T) {
	files := map[string][]byte{"a": randomBytes(15, 8<<10)}
	e := newEnv(t, envOptions{files: files})
	p := e.paths[0]
	want := func(path, outcome string) {
		t.Helper()
		resp, _, err := e.get(path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %v", path, err, resp)
		}
		if got := resp.Header.Get("X-Cache"); got != outcome {
			t.Errorf("GET %s: X-Cache %q, want %q", path, got, outcome)
		}
	}
	want(hashPart(p)+".narinfo", "MISS")
	want(hashPart(p)+".narinfo", "HIT")
	ni := e.narInfo(p)
	want(ni.URL, "MISS")
	e.waitStored(strings.TrimPrefix(ni.URL, URLPrefix))
	want(ni.URL, "HIT")
}

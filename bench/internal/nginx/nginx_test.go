package nginx

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/proc"
)

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		site Site
		want []string
		not  []string
	}{
		{"static", Site{Listen: "127.0.0.1:1", Root: "/srv/cache"},
			[]string{"root /srv/cache;", "listen 127.0.0.1:1;", "daemon off;", "master_process on;"},
			[]string{"proxy_cache "}},
		{"mirror", Site{Listen: "127.0.0.1:2", Upstream: "http://127.0.0.1:3", MaxSize: "1g"},
			[]string{"server 127.0.0.1:3;", "proxy_cache_lock on;", "max_size=1g", "proxy_cache_valid 404 1m;", "proxy_buffering on;"},
			[]string{"root "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Config("/tmp/p", tt.site)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("config lacks %q:\n%s", w, got)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("config has %q:\n%s", n, got)
				}
			}
		})
	}
}

// TestStartMirror runs a static nginx and a proxy_cache nginx in front of
// it, when nginx is installed.
func TestStartMirror(t *testing.T) {
	if _, err := Binary(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "nix-cache-info"), []byte("StoreDir: /nix/store\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	upPort, _ := proc.FreePort()
	up, err := Start(filepath.Join(dir, "up"), Site{Listen: "127.0.0.1:" + itoa(upPort), Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Stop(5 * time.Second)
	mPort, _ := proc.FreePort()
	m, err := Start(filepath.Join(dir, "mirror"), Site{Listen: "127.0.0.1:" + itoa(mPort), Upstream: "http://127.0.0.1:" + itoa(upPort)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop(5 * time.Second)
	resp, err := http.Get("http://127.0.0.1:" + itoa(mPort) + "/nix-cache-info")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := string(body), "StoreDir: /nix/store\n"; got != want {
		t.Errorf("through the mirror: %q, want %q", got, want)
	}
	if rss, err := m.PeakRSS(); err != nil || rss <= 0 {
		t.Errorf("PeakRSS = %d, %v", rss, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

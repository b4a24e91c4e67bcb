// Package nginx runs nginx as a contender: a static binary cache (the
// upstream, or a file:// copy of the local store) or a pull-through mirror
// configured the way NixOS users set one up with proxy_cache.
package nginx

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/proc"
)

// Site is what one nginx instance serves.
type Site struct {
	// Listen is HOST:PORT on loopback.
	Listen string
	// Root serves this binary cache directory as static files when set.
	Root string
	// Upstream is the URL (http://HOST:PORT) a mirror proxies to when Root is "".
	Upstream string
	// MaxSize is the proxy_cache max_size, e.g. "10g"; "" means 50g.
	MaxSize string
}

// Binary finds nginx: on PATH or in /usr/sbin (not on a normal user's PATH).
func Binary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", fmt.Errorf("nginx not found")
}

// Exec rewrites a command line, e.g. to run it inside a network
// namespace; nil runs it as it is.
type Exec func(name string, args ...string) (string, []string)

// Start writes a configuration under prefix (its own temp, cache and log
// folders) and runs nginx in the foreground with a master and one worker
// per core. It returns once nginx answers.
func Start(prefix string, site Site) (*proc.Proc, error) {
	return StartWith(prefix, site, nil, &http.Client{Timeout: time.Second})
}

// StartWith is Start with the command line passed through wrap, and the
// readiness check made with probe.
func StartWith(prefix string, site Site, wrap Exec, probe *http.Client) (*proc.Proc, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"temp", "cache", "logs"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(prefix, "nginx.conf")
	text, err := Config(prefix, site)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	label := "nginx static"
	if site.Root == "" {
		label = "nginx proxy_cache"
	}
	name, args := bin, []string{"-p", prefix, "-c", conf, "-e", filepath.Join(prefix, "logs", "error.log")}
	if wrap != nil {
		name, args = wrap(name, args...)
	}
	p, err := proc.Start(label, filepath.Join(prefix, "logs", "stderr.log"), nil, name, args...)
	if err != nil {
		return nil, err
	}
	if err := p.WaitHTTPWith(probe, "http://"+site.Listen+"/nix-cache-info", 10*time.Second); err != nil {
		p.Stop(time.Second)
		b, _ := os.ReadFile(filepath.Join(prefix, "logs", "error.log"))
		return nil, fmt.Errorf("%w\n%s", err, strings.TrimSpace(string(b)))
	}
	return p, nil
}

// Config returns the nginx.conf text for site with its files under prefix.
func Config(prefix string, site Site) (string, error) {
	if site.MaxSize == "" {
		site.MaxSize = "50g"
	}
	var b strings.Builder
	err := confTemplate.Execute(&b, struct {
		Site
		Prefix string
		Root   bool // running as root: workers must stay root to read the fixture under /root
	}{site, prefix, os.Geteuid() == 0})
	return b.String(), err
}

var confTemplate = template.Must(template.New("nginx.conf").Parse(`# written by bench: one nginx per contender, all files under its prefix
daemon off;
master_process on;
worker_processes auto;
{{if .Root}}user root;
{{end}}pid {{.Prefix}}/nginx.pid;
error_log {{.Prefix}}/logs/error.log warn;
worker_rlimit_nofile 65536;

events {
    worker_connections 8192;
}

http {
    access_log off;
    client_body_temp_path {{.Prefix}}/temp/body;
    proxy_temp_path {{.Prefix}}/temp/proxy;
    fastcgi_temp_path {{.Prefix}}/temp/fastcgi;
    uwsgi_temp_path {{.Prefix}}/temp/uwsgi;
    scgi_temp_path {{.Prefix}}/temp/scgi;

    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;

    types {
        text/x-nix-narinfo narinfo;
        text/x-nix-cache-info nix-cache-info;
        application/x-nix-nar nar zst xz bz2;
    }
    default_type application/octet-stream;
{{if .Site.Root}}
    server {
        listen {{.Listen}};
        root {{.Site.Root}};
        location / {
        }
    }
{{else}}
    # A pull-through mirror as NixOS users write it: cache 200s for a long
    # time, 404s briefly, one upstream fetch per object (proxy_cache_lock).
    proxy_cache_path {{.Prefix}}/cache levels=1:2 keys_zone=nixcache:100m max_size={{.MaxSize}} inactive=365d use_temp_path=off;

    upstream nixupstream {
        server {{.UpstreamHost}};
        keepalive 32;
    }

    server {
        listen {{.Listen}};
        location / {
            proxy_pass http://nixupstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache nixcache;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 300s;
            proxy_cache_lock_age 300s;
            proxy_cache_valid 200 365d;
            proxy_cache_valid 404 1m;
            proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
            proxy_buffering on;
            proxy_read_timeout 60s;
        }
    }
{{end}}}
`))

// UpstreamHost is Upstream without its scheme, for the upstream block.
func (s Site) UpstreamHost() string {
	return strings.TrimPrefix(strings.TrimPrefix(s.Upstream, "http://"), "https://")
}

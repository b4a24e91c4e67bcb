package tls_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	pnctls "github.com/private-nix-cache/private-nix-cache/tls"
)

func TestRedirectHandler(t *testing.T) {
	info := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, cacheInfo) })
	tests := []struct {
		name, port, method, host, target string
		wantCode                         int
		wantLocation, wantBody           string
	}{
		{"get default port", "443", "GET", "cache.example.org", "/abc.narinfo", 301, "https://cache.example.org/abc.narinfo", ""},
		{"empty port", "", "GET", "cache.example.org:80", "/x?y=1", 301, "https://cache.example.org/x?y=1", ""},
		{"other port", "8443", "HEAD", "cache.example.org:8080", "/nar/a.nar.zst", 301, "https://cache.example.org:8443/nar/a.nar.zst", ""},
		{"put keeps method", "443", "PUT", "cache.example.org", "/abc.narinfo", 308, "https://cache.example.org/abc.narinfo", ""},
		{"ipv6 host", "443", "GET", "[::1]:80", "/", 301, "https://[::1]/", ""},
		{"ipv6 host other port", "8443", "GET", "[::1]", "/", 301, "https://[::1]:8443/", ""},
		{"escaped path", "443", "GET", "c.example.org", "/log/a%2Fb", 301, "https://c.example.org/log/a%2Fb", ""},
		{"cache info served", "443", "GET", "cache.example.org", "/nix-cache-info", 200, "", cacheInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://placeholder"+tt.target, nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			pnctls.RedirectHandler(tt.port, info).ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Errorf("code = %d, want %d", rec.Code, tt.wantCode)
			}
			if got := rec.Header().Get("Location"); got != tt.wantLocation {
				t.Errorf("Location = %q, want %q", got, tt.wantLocation)
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body = %q, want %q", rec.Body.String(), tt.wantBody)
			}
		})
	}
}

func TestRedirectHandlerWithoutCacheInfo(t *testing.T) {
	req := httptest.NewRequest("GET", "http://cache.example.org/nix-cache-info", nil)
	rec := httptest.NewRecorder()
	pnctls.RedirectHandler("443", nil).ServeHTTP(rec, req)
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "https://cache.example.org/nix-cache-info" {
		t.Errorf("got %d %q, want 301 to https://cache.example.org/nix-cache-info", rec.Code, rec.Header().Get("Location"))
	}
}

func TestRedirectHandlerWithoutHost(t *testing.T) {
	req := httptest.NewRequest("GET", "http://x/", nil)
	req.Host = ""
	rec := httptest.NewRecorder()
	pnctls.RedirectHandler("443", nil).ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("code = %d, want 400", rec.Code)
	}
}

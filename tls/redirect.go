package tls

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// RedirectHandler answers plain HTTP: GET and HEAD get 301, other methods 308
// (which keeps the method and body), to https://HOST[:httpsPort]/same/path?query.
// /nix-cache-info goes to cacheInfo instead, when cacheInfo is non-nil, so a
// client configured with http:// still sees the cache. httpsPort "" or "443"
// leaves the port out of the new URL.
func RedirectHandler(httpsPort string, cacheInfo http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cacheInfo != nil && r.URL.Path == "/nix-cache-info" {
			cacheInfo.ServeHTTP(w, r)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		} else {
			host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		}
		if host == "" {
			http.Error(w, "missing Host header", http.StatusBadRequest)
			return
		}
		if httpsPort != "" && httpsPort != "443" {
			host = net.JoinHostPort(host, httpsPort)
		} else if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
			host = "[" + host + "]"
		}
		target := url.URL{Scheme: "https", Host: host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
		code := http.StatusPermanentRedirect
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			code = http.StatusMovedPermanently
		}
		http.Redirect(w, r, target.String(), code)
	})
}

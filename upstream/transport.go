package upstream

import (
	"net"
	"net/http"
	"sync"
	"time"
)

var (
	sharedTransportOnce sync.Once
	sharedTransport     *http.Transport
)

// defaultTransport is shared by every Set: one pool of keep-alive
// connections, HTTP/2 where offered, bounded dial and TLS handshakes, and no
// transparent decompression (NARs must pass through byte for byte).
func defaultTransport() *http.Transport {
	sharedTransportOnce.Do(func() {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		sharedTransport = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true,
		}
	})
	return sharedTransport
}

// rawTransport returns rt, or the shared transport for nil; an
// *http.Transport that would add Accept-Encoding is cloned without it.
func rawTransport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		return defaultTransport()
	}
	if t, ok := rt.(*http.Transport); ok && !t.DisableCompression {
		t = t.Clone()
		t.DisableCompression = true
		return t
	}
	return rt
}

// Package unixhttp makes HTTP clients that reach a server on a unix
// socket, such as the admin socket: the URL's host is ignored.
package unixhttp

import (
	"context"
	"net"
	"net/http"
	"time"
)

// Client returns a client whose every connection goes to the unix socket
// at sock; timeout bounds each request (0: none).
func Client(sock string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

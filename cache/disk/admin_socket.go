package disk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/private-nix-cache/private-nix-cache/internal/unixhttp"
)

// AdminLinkName is the link a server with an admin socket keeps in its
// cache directory, pointing at the socket, so that `gc --cache-dir DIR`
// finds the server of DIR.
const AdminLinkName = "admin.sock"

// AdminHandler answers the maintenance commands of a running server:
// POST /gc?max-size=BYTES (GCResult) and POST /verify (VerifyReport), as
// JSON. It is meant for a socket only root and the server's user reach.
func (c *Cache) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /gc", func(w http.ResponseWriter, r *http.Request) {
		max, err := strconv.ParseInt(r.URL.Query().Get("max-size"), 10, 64)
		if err != nil || max < 0 {
			http.Error(w, "max-size: want a byte count", http.StatusBadRequest)
			return
		}
		c.log.Info("gc requested on the admin socket", "max_size", max)
		writeJSON(w, c.GCTo(max))
	})
	mux.HandleFunc("POST /verify", func(w http.ResponseWriter, r *http.Request) {
		c.log.Info("verify requested on the admin socket")
		rep, err := c.VerifyAll()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, rep)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// ListenAdmin listens on a unix socket at path, mode 0600: it is bound
// under a temporary name, restricted, then renamed into place, so that it
// is never reachable by others. A stale socket is replaced; one a live
// process answers on is an error.
func ListenAdmin(path string) (net.Listener, error) {
	if conn, err := net.Dial("unix", path); err == nil {
		conn.Close()
		return nil, fmt.Errorf("admin socket %s: another process answers on it", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	os.Remove(tmp)
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return &adminListener{Listener: ln, path: path}, nil
}

// adminListener removes its socket file when closed.
type adminListener struct {
	net.Listener
	path string
}

func (l *adminListener) Close() error {
	err := l.Listener.Close()
	os.Remove(l.path)
	return err
}

// ErrNoServer is returned by the admin client when no server answers on
// the socket (none there, or a stale one): the caller may open the
// directory itself.
var ErrNoServer = errors.New("no server answers on the admin socket")

// AdminGC asks the server on the admin socket at sock to evict down to
// maxSize bytes.
func AdminGC(ctx context.Context, sock string, maxSize int64) (GCResult, error) {
	var r GCResult
	err := adminCall(ctx, sock, "/gc?max-size="+strconv.FormatInt(maxSize, 10), &r)
	return r, err
}

// AdminVerify asks the server on the admin socket at sock to verify
// every stored NAR.
func AdminVerify(ctx context.Context, sock string) (VerifyReport, error) {
	var r VerifyReport
	err := adminCall(ctx, sock, "/verify", &r)
	return r, err
}

func adminCall(ctx context.Context, sock, target string, out any) error {
	client := unixhttp.Client(sock, 0)
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://admin"+target, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOTSOCK) {
			return fmt.Errorf("%s: %w", sock, ErrNoServer)
		}
		return fmt.Errorf("admin socket %s: %w", sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("admin socket %s: %s: %s", sock, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin socket %s: read answer: %w", sock, err)
	}
	return nil
}

package disk

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// The admin client tells "no server" (no socket, a stale one) from a
// server's answer, and the socket is 0600 from the start.
func TestAdminSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "state", "admin.sock")
	if _, err := AdminVerify(context.Background(), sock); !errors.Is(err, ErrNoServer) {
		t.Fatalf("no socket: %v", err)
	}
	stale, err := net.Listen("unix", sock+".stale")
	if err == nil {
		stale.(*net.UnixListener).SetUnlinkOnClose(false)
		stale.Close()
		os.Rename(sock+".stale", sock)
	}
	if _, err := AdminGC(context.Background(), sock, 0); !errors.Is(err, ErrNoServer) {
		t.Fatalf("stale socket: %v", err)
	}

	c := openTest(t, Options{Dir: filepath.Join(dir, "cache")})
	commitBytes(t, c, keyN(1), make([]byte, 100))
	commitBytes(t, c, keyN(2), make([]byte, 100))
	ln, err := ListenAdmin(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: c.AdminHandler()}
	go srv.Serve(ln)
	defer srv.Close()
	if info, err := os.Stat(sock); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v, %v", info, err)
	}
	if _, err := ListenAdmin(sock); err == nil {
		t.Error("a second server took a live socket")
	}
	res, err := AdminGC(context.Background(), sock, 150)
	if err != nil || res.Removed != 1 || res.Files != 1 || res.Size != 100 {
		t.Fatalf("gc = %+v, %v", res, err)
	}
	rep, err := AdminVerify(context.Background(), sock)
	if err != nil || rep.Checked != 0 || len(rep.Unverifiable) != 1 {
		t.Fatalf("verify = %+v, %v", rep, err) // a test key carries no NarHash
	}
}

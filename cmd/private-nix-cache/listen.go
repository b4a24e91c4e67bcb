package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/private-nix-cache/private-nix-cache/config"
)

// unixPrefix marks a --listen that is a unix socket path, for a reverse
// proxy on the same machine.
const unixPrefix = "unix:"

// listen opens the server's listener: the socket systemd handed over
// (socket activation), else a unix socket for "unix:PATH", else TCP.
func listen(addr string, log *slog.Logger) (net.Listener, error) {
	if ln, err := activatedListener(log); ln != nil || err != nil {
		return ln, err
	}
	if path, ok := strings.CutPrefix(addr, unixPrefix); ok {
		return listenUnix(path)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &config.Error{Key: "listen", Err: err}
	}
	return ln, nil
}

// activatedListener returns the first socket systemd passed (LISTEN_FDS
// for this process's LISTEN_PID), or nil when it passed none. The
// variables are cleared so that no child takes them for its own.
func activatedListener(log *slog.Logger) (net.Listener, error) {
	lns, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	if len(lns) == 0 {
		return nil, nil
	}
	for _, extra := range lns[1:] {
		if extra != nil {
			log.Warn("socket activation: only the first socket is served", "ignored", extra.Addr().String())
			extra.Close()
		}
	}
	if lns[0] == nil {
		return nil, errors.New("socket activation: fd 3 is not a listening stream socket")
	}
	log.Info("socket activation: serving the socket systemd passed", "addr", lns[0].Addr().String())
	return lns[0], nil
}

// listenUnix listens on a unix socket at path, replacing a socket file a
// previous run left behind (never any other kind of file), readable and
// writable by its owner and group only: the reverse proxy's group.
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, &config.Error{Key: "listen", Err: fmt.Errorf("%s exists and is not a socket", path)}
		}
		if err := os.Remove(path); err != nil {
			return nil, &config.Error{Key: "listen", Err: fmt.Errorf("remove stale socket: %w", err)}
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, &config.Error{Key: "listen", Err: err}
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, &config.Error{Key: "listen", Err: err}
	}
	return ln, nil
}

// notifySystemd tells systemd the server is ready (Type=notify) and, when
// the unit has WatchdogSec, pings the watchdog at half its interval until
// ctx ends. Without NOTIFY_SOCKET it does nothing. STOPPING=1 is run's to
// send, before the graceful shutdown.
func notifySystemd(ctx context.Context, log *slog.Logger) {
	if sent, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("sd_notify", "err", err)
		return
	} else if !sent {
		return
	}
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog", "err", err)
	}
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := daemon.SdNotify(false, daemon.SdNotifyWatchdog); err != nil {
				log.Warn("systemd watchdog", "err", err)
			}
		}
	}
}

// notifyStopping tells systemd the shutdown has begun.
func notifyStopping() { _, _ = daemon.SdNotify(false, daemon.SdNotifyStopping) }

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/proc"
	"github.com/private-nix-cache/private-nix-cache/internal/unixhttp"
)

// serverArgs collects the repeated --server-arg flag.
type serverArgs []string

func (a *serverArgs) String() string     { return strings.Join(*a, " ") }
func (a *serverArgs) Set(v string) error { *a = append(*a, strings.Fields(v)...); return nil }

// profileAtPeak saves the server's heap profile, asked of its admin
// socket, each time its peak RSS grew by 4 MiB or more since the last
// one, as heap-peak.pb.gz in dir: the profile nearest the peak, to see
// what held the memory. It returns when ctx ends.
func profileAtPeak(ctx context.Context, srv *proc.Proc, sock, dir string, logf func(string, ...any)) {
	client := unixhttp.Client(sock, 10*time.Second)
	var saved int64
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if saved > 0 {
				logf("heap profile at %d MiB of peak RSS in %s", saved>>20, dir)
			}
			return
		case <-tick.C:
		}
		rss, err := srv.PeakRSS()
		if err != nil || rss < saved+4<<20 {
			continue
		}
		if err := saveHeap(ctx, client, filepath.Join(dir, "heap-peak.pb.gz")); err == nil {
			saved = rss
		}
	}
}

func saveHeap(ctx context.Context, client *http.Client, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://admin/debug/pprof/heap", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile: %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, body, 0o644)
}

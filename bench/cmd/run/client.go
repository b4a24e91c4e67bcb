package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/fixture"
	"github.com/private-nix-cache/private-nix-cache/bench/internal/proc"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// newHTTPClient is the client of every latency measurement: keep-alive,
// no transparent gzip (Nix 2.8 sends no Accept-Encoding).
func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Minute,
		Transport: &http.Transport{
			DisableCompression:  true,
			MaxIdleConnsPerHost: 64,
			TLSClientConfig:     &tls.Config{},
			ForceAttemptHTTP2:   false,
		},
	}
}

func get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// getNarInfo fetches and parses the narinfo of a store path.
func getNarInfo(ctx context.Context, c *http.Client, base, storePath string) (*narinfo.NarInfo, error) {
	body, err := get(ctx, c, base+"/"+fixture.HashPart(storePath)+".narinfo")
	if err != nil {
		return nil, err
	}
	ni, err := narinfo.ParseBytes(body)
	if err != nil {
		return nil, fmt.Errorf("narinfo of %s from %s: %w", storePath, base, err)
	}
	return ni, nil
}

// narURLPaths returns the NAR URL path ("/…") each contender hands out for paths.
func narURLPaths(ctx context.Context, c *http.Client, base string, paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		ni, err := getNarInfo(ctx, c, base, p)
		if err != nil {
			return nil, err
		}
		out = append(out, "/"+strings.TrimPrefix(ni.URL, "/"))
	}
	return out, nil
}

func narInfoPaths(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = "/" + fixture.HashPart(p) + ".narinfo"
	}
	return out
}

// missLatencies asks for each narinfo once, one after the other, and
// returns the latency of each.
func missLatencies(ctx context.Context, c *http.Client, base string, paths []string) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, len(paths))
	for _, p := range paths {
		start := time.Now()
		if _, err := get(ctx, c, base+"/"+fixture.HashPart(p)+".narinfo"); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

// getLatencies fetches each URL path once, one after the other, and
// returns the latency of each (body read to its end).
func getLatencies(ctx context.Context, c *http.Client, base string, paths []string) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, len(paths))
	for _, p := range paths {
		start := time.Now()
		if _, err := get(ctx, c, base+p); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

// coldNAR fetches the narinfo of storePath (untimed), then its NAR,
// returning the time to the first response byte and to the last.
func coldNAR(ctx context.Context, c *http.Client, base, storePath string) (ttfb, total time.Duration, err error) {
	ni, err := getNarInfo(ctx, c, base, storePath)
	if err != nil {
		return 0, 0, err
	}
	url := base + "/" + strings.TrimPrefix(ni.URL, "/")
	var first time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	end := time.Now()
	if err != nil {
		return 0, 0, fmt.Errorf("GET %s: %w after %d bytes", url, err, n)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("GET %s: empty body", url)
	}
	return first.Sub(start), end.Sub(start), nil
}

// nixCopy substitutes the closure of root from base into a fresh chroot
// store with the real Nix client, and returns the wall time.
func (b *bench) nixCopy(ctx context.Context, base, root string) (time.Duration, error) {
	dir, err := b.tempDir("nix-copy-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	env := fixture.NixEnv(dir + "/xdg-cache")
	keys := b.fx.PublicKey + " " + b.ourPublic
	start := time.Now()
	_, err = proc.Output(ctx, env, "nix", "copy", "--from", base, "--to", dir+"/store",
		"--option", "trusted-public-keys", keys, root)
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	return d, nil
}

// dumpMBps times nix-store --dump of a path of the chroot store.
func (b *bench) dumpMBps(ctx context.Context, storePath string) (float64, error) {
	full := b.fx.Chroot() + storePath
	cmd := exec.CommandContext(ctx, "nix-store", "--dump", full)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	n, copyErr := io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("nix-store --dump %s: %w", full, err)
	}
	if copyErr != nil {
		return 0, copyErr
	}
	return float64(n) / time.Since(start).Seconds() / 1e6, nil
}

package main

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPushedPathSurvivesMirrorEviction fills a mirror far over its
// --max-size, so that it evicts, while a pushed path stays served; then
// the delete command removes the pushed path.
func TestPushedPathSurvivesMirrorEviction(t *testing.T) {
	m := newMirrorFixture(t)
	tokens := writeSecret(t, "tokens", "ci push,sign "+e2ePushToken+"\nprometheus metrics "+e2eMetricsToken+"\n")
	p := m.start(t, "--max-size", "300B", "--token-file", tokens)

	up := newRawUpload(t, 200000)
	if narStatus, niStatus, msg := up.push(t, p.url(), up.file); narStatus != 200 || niStatus != 200 {
		t.Fatalf("push: NAR %d, narinfo %d %q", narStatus, niStatus, msg)
	}
	m.copyAndCompare(t, p.url(), m.ourPub)
	// Files are committed, and evicted, in batches after they were served.
	for deadline := time.Now().Add(10 * time.Second); authedMetric(t, p.url()+"/metrics", "private_nix_cache_evicted_files_total") == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the mirror evicted nothing: the test proves nothing")
		}
		time.Sleep(50 * time.Millisecond)
	}
	assertPushedServed(t, p.url(), up)

	p.stop()
	out, err := command(nil, binPath, "delete", "--cache-dir", m.cacheDir, up.narinfo.StorePath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "removed: "+up.name) {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	p = m.start(t, "--max-size", "300B", "--token-file", tokens)
	if got := status(t, "GET", p.url()+"/"+up.hashPart()+".narinfo"); got != 404 {
		t.Errorf("narinfo of a deleted path: %d", got)
	}
	if got := status(t, "HEAD", p.url()+"/nar/"+up.name); got != 404 {
		t.Errorf("HEAD of a deleted path's NAR: %d", got)
	}
}

func assertPushedServed(t *testing.T, base string, up *rawUpload) {
	t.Helper()
	resp, err := http.Get(base + "/" + up.hashPart() + ".narinfo")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("pushed narinfo after eviction: %s", resp.Status)
	}
	var url string
	for _, line := range strings.Split(string(text), "\n") {
		if v, ok := strings.CutPrefix(line, "URL: "); ok {
			url = v
		}
	}
	if got := get(t, base+"/"+url, ""); !bytes.Equal(got, up.file) {
		t.Errorf("pushed NAR after eviction: %d bytes, want the %d uploaded", len(got), len(up.file))
	}
}

// authedMetric reads one series of /metrics with the metrics token.
func authedMetric(t *testing.T, url, series string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth("", e2eMetricsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

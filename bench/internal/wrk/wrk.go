// Package wrk drives wrk, the load generator every throughput figure uses,
// with a Lua script that cycles through a list of URL paths.
package wrk

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Result is what one wrk run reports.
type Result struct {
	Requests   int64   `json:"requests"`
	DurationUS int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`
	Connect    int64   `json:"connect_errors"`
	Read       int64   `json:"read_errors"`
	Write      int64   `json:"write_errors"`
	Status     int64   `json:"status_errors"` // responses with status >= 400
	Timeout    int64   `json:"timeouts"`
	P50US      float64 `json:"p50_us"`
	P99US      float64 `json:"p99_us"`
	MaxUS      float64 `json:"max_us"`
}

// ReqPerSec is the request rate over the run.
func (r Result) ReqPerSec() float64 {
	if r.DurationUS == 0 {
		return 0
	}
	return float64(r.Requests) / (float64(r.DurationUS) / 1e6)
}

// MBPerSec is the rate of bytes received (headers included), in MB/s (10^6).
func (r Result) MBPerSec() float64 {
	if r.DurationUS == 0 {
		return 0
	}
	return float64(r.Bytes) / float64(r.DurationUS)
}

// Errors sums every kind of error.
func (r Result) Errors() int64 { return r.Connect + r.Read + r.Write + r.Status + r.Timeout }

// script cycles each thread through the paths from its own offset and
// prints the summary as one JSON line.
const script = `
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local paths = {}
local idx = 1
function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  idx = ((id or 0) * 7919) % #paths + 1
end

function request()
  local p = paths[idx]
  idx = idx % #paths + 1
  return wrk.format("GET", p)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`

// Run loads baseURL with conns connections for d, each request taking the
// next of paths (each "/…"). tmp holds the script and the path list.
func Run(ctx context.Context, tmp, baseURL string, paths []string, conns int, d time.Duration) (Result, error) {
	if len(paths) == 0 {
		return Result{}, fmt.Errorf("wrk: no paths")
	}
	dir, err := os.MkdirTemp(tmp, "wrk-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	scriptFile := filepath.Join(dir, "cycle.lua")
	listFile := filepath.Join(dir, "paths")
	if err := os.WriteFile(scriptFile, []byte(script), 0o644); err != nil {
		return Result{}, err
	}
	if err := os.WriteFile(listFile, []byte(strings.Join(paths, "\n")+"\n"), 0o644); err != nil {
		return Result{}, err
	}
	threads := min(conns, 2)
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	cmd := exec.CommandContext(ctx, "wrk",
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", strconv.Itoa(secs)+"s",
		"--timeout", "30s", "-s", scriptFile, baseURL, "--", listFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk %s: %w\n%s", baseURL, err, out)
	}
	return parse(string(out))
}

func parse(out string) (Result, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if js, ok := strings.CutPrefix(sc.Text(), "WRKJSON "); ok {
			var r Result
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				return Result{}, fmt.Errorf("wrk summary %q: %w", js, err)
			}
			return r, nil
		}
	}
	return Result{}, fmt.Errorf("wrk printed no summary:\n%s", out)
}

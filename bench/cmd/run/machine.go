package main

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/nginx"
	"github.com/private-nix-cache/private-nix-cache/bench/internal/proc"
)

// Machine describes where the numbers were taken.
type Machine struct {
	Cores    int    `json:"cores"`
	MemoryGB string `json:"memory"`
	CPU      string `json:"cpu"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Nix      string `json:"nix"`
	Nginx    string `json:"nginx"`
	Wrk      string `json:"wrk"`
	// Load averages (1 min) when the run began and ended: other work on
	// the machine shows here, and widens the spreads.
	LoadStart string `json:"load_start,omitempty"`
	LoadEnd   string `json:"load_end,omitempty"`
}

// loadAverage is the 1-minute load average, "" when unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Fields(string(b) + " ")[0]
}

func describeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseFloat(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 64); err == nil {
		m.MemoryGB = strconv.FormatFloat(kb/(1<<20), 'f', 1, 64) + " GiB"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.Nix, _ = proc.Output(ctx, nil, "nix", "--version")
	if bin, err := nginx.Binary(); err == nil {
		// nginx -v writes to stderr.
		out, err := proc.Output(ctx, nil, "/bin/sh", "-c", bin+" -v 2>&1")
		if err == nil {
			m.Nginx = strings.TrimPrefix(out, "nginx version: ")
		}
	}
	if out, err := proc.Output(ctx, nil, "/bin/sh", "-c", "wrk -v 2>&1 | head -1"); err == nil {
		m.Wrk = strings.Fields(out + " ?")[1]
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(file, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// describeSource names the commit the server was built from, and the Go
// files that differed from it (outside bench/), which the build included.
func describeSource() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	head, err := proc.Output(ctx, nil, "git", "rev-parse", "--short", "HEAD")
	if err != nil {
		return ""
	}
	status, err := proc.Output(ctx, nil, "git", "status", "--porcelain", "--", "*.go", "go.mod", "go.sum")
	if err != nil {
		return head
	}
	var changed []string
	for _, line := range strings.Split(status, "\n") {
		if len(line) < 4 {
			continue
		}
		f := strings.TrimSpace(line[3:])
		if strings.HasPrefix(f, "bench/") || strings.HasSuffix(f, "_test.go") {
			continue
		}
		changed = append(changed, f)
	}
	if len(changed) == 0 {
		return head
	}
	return head + " with uncommitted changes to " + strings.Join(changed, ", ")
}

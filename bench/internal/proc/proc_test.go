package proc

import (
	"path/filepath"
	"testing"
	"time"
)

func TestPeakRSSIncludesChildren(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	p, err := Start("sh", log, nil, "/bin/sh", "-c", "sleep 30 & sleep 30 & wait")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(time.Second)
	var kids []int
	for i := 0; i < 100 && len(kids) < 2; i++ {
		time.Sleep(10 * time.Millisecond)
		kids = descendants(p.PID())
	}
	if len(kids) < 2 {
		t.Fatalf("descendants = %v, want two sleeps", kids)
	}
	own, err := vmHWM(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	total, err := p.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	if total <= own {
		t.Errorf("PeakRSS = %d, not more than the shell's own %d", total, own)
	}
	p.Stop(time.Second)
	if !p.Exited() {
		t.Errorf("process still running after Stop")
	}
}

func TestFreePort(t *testing.T) {
	port, err := FreePort()
	if err != nil || port <= 0 {
		t.Fatalf("FreePort = %d, %v", port, err)
	}
}

func TestCPUSecondsCountsChildren(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	// The busy loop runs in a child shell: only the descendants' time shows it.
	p, err := Start("sh", log, nil, "/bin/sh", "-c", "/bin/sh -c 'i=0; while [ $i -lt 2000000 ]; do i=$((i+1)); done; sleep 30' & wait")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(time.Second)
	own, err := cpuSeconds(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for i := 0; i < 200 && total < own+0.05; i++ {
		time.Sleep(50 * time.Millisecond)
		if total, err = p.CPUSeconds(); err != nil {
			t.Fatal(err)
		}
	}
	if total < own+0.05 {
		t.Errorf("CPUSeconds = %.2f, not above the parent's own %.2f after a busy child", total, own)
	}
}

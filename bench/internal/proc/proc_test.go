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

package main

import (
	"context"
	"strings"
	"testing"
)

func TestFleetPlaceSaysWhenOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		quick bool
		why   string
	}{
		{"loopback", false, "--fleet-net loopback"},
		{"auto", true, "quick run"},
	} {
		pl := newFleetPlace(context.Background(), tc.mode, tc.quick)
		if pl.net != nil || !strings.Contains(pl.note, "loopback ("+tc.why+")") {
			t.Errorf("%s, quick %v: net %v, note %q", tc.mode, tc.quick, pl.net, pl.note)
		}
		if w := pl.wrap(roleBastion); w != nil {
			t.Errorf("%s: commands wrapped on loopback", tc.mode)
		}
		addr, err := pl.listen(roleBastion)
		if err != nil || !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("%s: listen %q, %v", tc.mode, addr, err)
		}
		pl.close()
	}
}

func TestFleetPlacePinsCPUs(t *testing.T) {
	pl := newFleetPlace(context.Background(), "loopback", false)
	defer pl.close()
	pl.splitCPUs(true)
	if pl.cpus == nil {
		t.Skipf("no split: %s", pl.note)
	}
	name, args := pl.wrap(roleClient)("nix", "copy")
	if name != "taskset" || strings.Join(args, " ") != "-c 0 nix copy" {
		t.Errorf("client: %s %v", name, args)
	}
	name, args = pl.wrap(roleBastion)("private-nix-cache", "serve")
	if name != "taskset" || args[0] != "-c" || args[1] == "0" || args[2] != "private-nix-cache" {
		t.Errorf("bastion: %s %v", name, args)
	}
	if !strings.Contains(pl.note, "client on CPU 0") {
		t.Errorf("note %q", pl.note)
	}
}

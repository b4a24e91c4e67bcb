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

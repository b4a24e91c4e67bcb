package server

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The narinfo route skips the router; both must count alike.
func TestRequestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(Options{Local: &fakeStore{narBody: []byte("x")}, Keys: testKeys(t), Registerer: reg})
	hit := "/" + testHash + ".narinfo"
	miss := "/" + strings.Repeat("1", 32) + ".narinfo"
	bodyLen := do(t, s, "GET", hit).Body.Len()
	do(t, s, "HEAD", hit)
	do(t, s, "GET", miss)
	do(t, s, "GET", "/nix-cache-info")
	do(t, s, "GET", "/bad.narinfo")
	do(t, s, "PUT", hit)

	for _, tc := range []struct {
		route, code string
		want        float64
	}{
		{"narinfo", "200", 2},
		{"narinfo", "404", 2}, // the miss and the malformed name
		{"narinfo", "405", 1},
		{"cache-info", "200", 1},
	} {
		got := testutil.ToFloat64(s.metrics.requests.WithLabelValues(tc.route, tc.code))
		if got != tc.want {
			t.Errorf("requests{route=%s,code=%s} = %v, want %v", tc.route, tc.code, got, tc.want)
		}
	}
	// Bodies count on both paths, error texts included; a HEAD sends none.
	want := bodyLen + 2*len("Not Found\n") + len("Method Not Allowed\n")
	if got := testutil.ToFloat64(s.metrics.bytes.WithLabelValues("narinfo")); got != float64(want) {
		t.Errorf("narinfo bytes = %v, want %d", got, want)
	}
}

func TestNarInfoRequest(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		ok             bool
	}{
		{"GET", "/" + testHash + ".narinfo", true},
		{"HEAD", "/" + testHash + ".narinfo", true},
		{"POST", "/" + testHash + ".narinfo", false},
		{"GET", "/" + testHash + ".narinfx", false},
		{"GET", "/x/" + testHash[2:] + ".narinfo", false},
		{"GET", "/" + testHash + "0.narinfo", false},
	} {
		req := httptest.NewRequest(tc.method, tc.target, nil)
		hash, ok := narInfoRequest(req)
		if ok != tc.ok || (ok && hash != testHash) {
			t.Errorf("%s %s: %q %v, want ok=%v", tc.method, tc.target, hash, ok, tc.ok)
		}
	}
}

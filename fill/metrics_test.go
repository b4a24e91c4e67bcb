package fill

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/private-nix-cache/private-nix-cache/internal/promreg"
)

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	v, found, err := promreg.Value(reg, name, labels)
	if err != nil || !found {
		t.Fatalf("metric %s%v not found: %v", name, labels, err)
	}
	return v
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := openTest(t, testOptions{Registerer: reg})
	good := makeBlob(t, 10000, "zstd", true)
	spec, done := specFor(good, &fakeSource{data: good.file})
	n, err := c.OpenNAR(context.Background(), good.key, spec)
	if err != nil {
		t.Fatal(err)
	}
	mustRead(t, n)
	n.Close()
	done.wait(t)
	bad := makeBlob(t, 10000, "zstd", true)
	spec, done = specFor(bad, &fakeSource{data: good.file})
	if n, err = c.OpenNAR(context.Background(), bad.key, spec); err != nil {
		t.Fatal(err)
	}
	readAllNAR(t, n)
	n.Close()
	done.wait(t)
	if n, err = c.OpenNAR(context.Background(), good.key, nil); err != nil {
		t.Fatal(err)
	}
	n.Close()
	c.Negative("0123456789abcdfghijklmnpqrsvwxyz")
	// Done is called just before a fill winds down.
	for i := 0; i < 100 && metricValue(t, reg, "private_nix_cache_fills_in_progress", nil) != 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}

	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"private_nix_cache_cache_hits_total", map[string]string{"kind": "nar"}, 1},
		{"private_nix_cache_cache_misses_total", map[string]string{"kind": "nar"}, 2},
		{"private_nix_cache_cache_misses_total", map[string]string{"kind": "negative"}, 1},
		{"private_nix_cache_verification_failures_total", nil, 1},
		{"private_nix_cache_upstream_fetched_bytes_total", nil, float64(2 * len(good.file))},
		{"private_nix_cache_cache_size_bytes", nil, float64(len(good.file))},
		{"private_nix_cache_cache_entries", nil, 1},
		{"private_nix_cache_fills_in_progress", nil, 0},
	} {
		if got := metricValue(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	// Close unregisters, so a cache can be opened again on the same registry.
	c.Close()
	c2 := openTest(t, testOptions{Dir: c.Dir(), Registerer: reg})
	if got := metricValue(t, reg, "private_nix_cache_cache_entries", nil); got != 1 {
		t.Errorf("entries after reopen = %v", got)
	}
	_ = c2
}

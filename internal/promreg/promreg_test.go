package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func newCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "test_total", Help: "Test counter."})
}

func gathered(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return len(mfs)
}

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	first := Register(reg, newCounter())
	if got, want := gathered(t, reg), 1; got != want {
		t.Fatalf("families after register = %d, want %d", got, want)
	}
	// A second instance on the same registry loses only its export.
	second := Register(reg, newCounter())
	second.Unregister()
	if got, want := gathered(t, reg), 1; got != want {
		t.Fatalf("families after the refused instance unregistered = %d, want %d", got, want)
	}
	first.Unregister()
	first.Unregister()
	if got, want := gathered(t, reg), 0; got != want {
		t.Fatalf("families after unregister = %d, want %d", got, want)
	}
	// Unregistered, the name is free again.
	third := Register(reg, newCounter())
	if got, want := gathered(t, reg), 1; got != want {
		t.Fatalf("families after registering again = %d, want %d", got, want)
	}
	third.Unregister()
}

func TestRegisterNil(t *testing.T) {
	Register(nil, newCounter()).Unregister()
	var r *Registration
	r.Unregister()
}

func TestShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := Shared(reg, newCounter())
	if err != nil {
		t.Fatal(err)
	}
	second, err := Shared(reg, newCounter())
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		t.Errorf("second registration got its own counter, want the first one")
	}
	// Same name, other help: not the same collector, so an error.
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_total", Help: "Other help."})
	if _, err := Shared(reg, other); err == nil {
		t.Errorf("conflicting registration: got nil error")
	}
}

func TestValue(t *testing.T) {
	reg := prometheus.NewRegistry()
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hits_total", Help: "Hits."}, []string{"kind"})
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "size_bytes", Help: "Size."})
	Register(reg, vec, gauge)
	vec.WithLabelValues("nar").Add(3)
	vec.WithLabelValues("narinfo").Add(5)
	gauge.Set(7)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
		found  bool
	}{
		{"hits_total", map[string]string{"kind": "narinfo"}, 5, true},
		{"hits_total", map[string]string{"kind": "negative"}, 0, false},
		{"size_bytes", nil, 7, true},
		{"absent_total", nil, 0, false},
	} {
		v, found, err := Value(reg, tc.name, tc.labels)
		if err != nil || v != tc.want || found != tc.found {
			t.Errorf("%s%v = %v, %v, %v; want %v, %v", tc.name, tc.labels, v, found, err, tc.want, tc.found)
		}
	}
}

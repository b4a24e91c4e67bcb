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

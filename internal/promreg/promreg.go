// Package promreg registers a component's Prometheus collectors and
// unregisters them when the component closes.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Registration is the set of collectors one component registered.
// A nil *Registration holds none.
type Registration struct {
	reg        prometheus.Registerer
	registered []prometheus.Collector
}

// Register registers each of cs with reg; a nil reg registers none. A
// collector the registry refuses (another instance on the same registry
// holds its name) still counts; only its export is lost.
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) *Registration {
	r := &Registration{reg: reg}
	if reg == nil {
		return r
	}
	for _, c := range cs {
		if reg.Register(c) == nil {
			r.registered = append(r.registered, c)
		}
	}
	return r
}

// Unregister unregisters what Register registered, so another instance can
// register on the same registry. Calling it again does nothing.
func (r *Registration) Unregister() {
	if r == nil {
		return
	}
	for _, c := range r.registered {
		r.reg.Unregister(c)
	}
	r.registered = nil
}

// Shared registers c with reg, or returns the collector of the same type
// already registered under its name, so instances on one registry share
// their series. Any other refusal is returned with c.
func Shared[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// SharedBy registers c through Shared on r's registry, and returns the
// collector to use. A collector r itself registered is unregistered with
// r's others; one it shares is left to the instance that registered it.
func SharedBy[C prometheus.Collector](r *Registration, c C) C {
	if r == nil || r.reg == nil {
		return c
	}
	got, err := Shared(r.reg, c)
	if err == nil && any(got) == any(c) {
		r.registered = append(r.registered, c)
	}
	return got
}

// HitsMisses returns the cache hits and misses by kind (narinfo, nar,
// negative), shared through r by the store, which counts narinfos and
// negative entries, and the fill, which counts NAR files.
func HitsMisses(r *Registration) (hits, misses *prometheus.CounterVec) {
	hits = SharedBy(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "private_nix_cache_cache_hits_total", Help: "Cache hits by kind (narinfo, nar, negative).",
	}, []string{"kind"}))
	misses = SharedBy(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "private_nix_cache_cache_misses_total", Help: "Cache misses by kind (narinfo, nar, negative).",
	}, []string{"kind"}))
	for _, k := range []string{"narinfo", "nar", "negative"} {
		hits.WithLabelValues(k)
		misses.WithLabelValues(k)
	}
	return hits, misses
}

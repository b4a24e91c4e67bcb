package promreg

import "github.com/prometheus/client_golang/prometheus"

// Value reads the counter or gauge called name from g: the first series
// whose labels include labels. found is false when there is none, as for
// a labelled counter never incremented.
func Value(g prometheus.Gatherer, name string, labels map[string]string) (v float64, found bool, err error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, false, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue series
				}
			}
			if m.Gauge != nil {
				return m.Gauge.GetValue(), true, nil
			}
			return m.GetCounter().GetValue(), true, nil
		}
	}
	return 0, false, nil
}

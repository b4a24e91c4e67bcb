package nixtest

import (
	"path/filepath"
	"testing"
)

func TestBuildCA(t *testing.T) {
	fx := BuildCA(t)
	store := fx.ChrootStore(t)
	for _, s := range []string{"", store} {
		rs := fx.Realisations(t, s)
		base, ok := rs[filepath.Base(fx.Base)]
		dep, ok2 := rs[filepath.Base(fx.Dependent)]
		if !ok || !ok2 {
			t.Fatalf("store %q: realisations %v lack %s or %s", s, rs, fx.Base, fx.Dependent)
		}
		if len(base.DependentRealisations) != 0 || dep.DependentRealisations[base.ID] != filepath.Base(fx.Base) {
			t.Errorf("store %q: base %+v, dependent %+v", s, base, dep)
		}
	}
}

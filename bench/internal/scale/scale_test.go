package scale

import (
	"testing"
	"time"
)

func TestFillThenReadFindsEveryPath(t *testing.T) {
	dir := t.TempDir()
	g, err := NewGenerator(11, 400)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Fill(dir, g)
	if err != nil {
		t.Fatal(err)
	}
	if f.NarInfos != 400 || f.NARs != 40 || f.IndexBytes <= 0 || f.InsertPerSecond <= 0 {
		t.Errorf("fill = %+v: want 400 narinfos, 40 NARs, an index and a rate", f)
	}
	r, err := Read(ReadOptions{Dir: dir, Duration: 200 * time.Millisecond, Readers: 2}, g)
	if err != nil {
		t.Fatal(err) // a lookup that failed fails Read
	}
	if r.Hot != 100 || r.Hit.Count == 0 || r.Miss.Count == 0 || r.Lookups != r.Hit.Count+r.Miss.Count {
		t.Errorf("read = %+v: want an LRU of 100 and lookups of both kinds", r)
	}
	if r.PeakRSS <= 0 || r.PeakRSS < r.RSSAnon || r.ServingSeconds < r.OpenSeconds {
		t.Errorf("read = %+v: memory or start-up figures make no sense", r)
	}
}

func TestHotSetIsToldApart(t *testing.T) {
	h := newHotSet(1000, 25)
	n := 0
	for i := range 1000 {
		if h.contains(i) {
			n++
		}
	}
	if n != 25 || !h.contains(h.index(24)) || h.contains(h.index(24)+1) {
		t.Errorf("hot set of 25 out of 1000 holds %d paths", n)
	}
}

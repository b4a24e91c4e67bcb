package main

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestSVGIsWellFormed(t *testing.T) {
	yes, no := true, false
	ratios := []Ratio{
		{ID: "hit_rps/nginx", Name: "narinfo cache hits", Of: "ours ÷ nginx proxy_cache", Better: "higher", Median: 1.4, Min: 1.3, Max: 1.5, Target: 1.25, TargetS: "≥ 1.25× nginx", Met: &yes},
		{ID: "ttfb/ref", Name: "ttfb", Of: "ours ÷ upstream direct", Better: "lower", Median: 9, Min: 8, Max: 12, Target: 1.5, TargetS: "≤ upstream + 10 ms & <tags>", Met: &no},
		{ID: "local_nar_1/ref", Name: "local NAR", Of: "ours ÷ nix-store --dump", Better: "higher", Median: 0.7, Min: 0.7, Max: 0.7},
	}
	out := svg(ratios)
	d := xml.NewDecoder(strings.NewReader(out))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("svg is not well-formed XML: %v\n%s", err, out)
		}
	}
	for _, want := range []string{"pull-through mirror", "serving the local store", "1.40× ✓", "9.00× ✗", "&lt;tags&gt;", "»"} {
		if !strings.Contains(out, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
}

func TestUpdateDocKeepsProse(t *testing.T) {
	file := t.TempDir() + "/BENCHMARKS.md"
	if err := updateDoc(file, "first\n"); err != nil {
		t.Fatal(err)
	}
	b := readFile(t, file)
	b = "# Benchmarks\n\nintro\n" + strings.TrimPrefix(b, "# Benchmarks\n\n") + "\nafterword\n"
	writeFile(t, file, b)
	if err := updateDoc(file, "second\n"); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, file)
	for _, want := range []string{"intro", "afterword", "second"} {
		if !strings.Contains(got, want) {
			t.Errorf("doc lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "first") {
		t.Errorf("doc still has the old summary:\n%s", got)
	}
}

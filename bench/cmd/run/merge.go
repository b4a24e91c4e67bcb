package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// keepOtherPhases adds to rep, run with --only, the measures of the phases
// it did not run from the previous results in out (latest.json), so the
// document keeps showing them; a note says where they come from.
func keepOtherPhases(rep *Report, only, out string) error {
	if only == "" || out == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(out, "latest.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	prev := &Report{}
	if err := json.Unmarshal(b, prev); err != nil {
		return fmt.Errorf("previous results: %w", err)
	}
	measures := map[string]*Measure{}
	for _, m := range rep.Measures {
		measures[m.ID] = m
	}
	kept := 0
	if rep.Scale == nil && only != "scale" && prev.Scale != nil {
		rep.Scale = prev.Scale
		kept++
	}
	for _, m := range prev.Measures {
		if section(m.ID) == only || measures[m.ID] != nil {
			continue
		}
		rep.Measures = append(rep.Measures, m)
		rep.index[m.ID] = m
		measures[m.ID] = m
		kept++
	}
	if kept == 0 {
		return nil
	}
	for _, k := range []string{"fixture", "runs"} { // what the kept figures were measured on
		if _, ok := rep.Settings[k]; !ok && prev.Settings[k] != nil && rep.Settings != nil {
			rep.Settings[k] = prev.Settings[k]
		}
	}
	if rep.Fleet == nil && only != "fleet" {
		rep.Fleet = prev.Fleet
	}
	rep.Ratios = computeRatios(measures)
	rep.Notes = append(rep.Notes, fmt.Sprintf("This run measured only the %s phase (`--only %s`); the other figures are those of the run of %s (`%s`).",
		only, only, prev.Date, prev.Command))
	return nil
}

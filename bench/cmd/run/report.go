package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Report is everything a run found; it is written as JSON.
type Report struct {
	Date     string              `json:"date"`
	Command  string              `json:"command"`
	Source   string              `json:"source,omitempty"` // commit the server was built from
	Quick    bool                `json:"quick"`
	Seconds  float64             `json:"wall_seconds"`
	Machine  Machine             `json:"machine"`
	Settings map[string]any      `json:"settings"`
	Ratios   []Ratio             `json:"ratios"`
	Measures []*Measure          `json:"measures"`
	Notes    []string            `json:"notes,omitempty"`
	Fleet    *fleetResult        `json:"fleet,omitempty"`
	Scale    []scaleRow          `json:"scale,omitempty"`
	index    map[string]*Measure // by ID
}

var columns = map[string][3]string{
	"mirror": {"private-nix-cache", "nginx proxy_cache", "upstream direct"},
	"local":  {"private-nix-cache", "nginx static", "nix-store --dump"},
}

// Markdown renders the summary: ratios first, then the measured values.
func (r *Report) Markdown(svgName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s with `%s` (%.0f s)", r.Date, r.Command, r.Seconds)
	if r.Source != "" {
		fmt.Fprintf(&b, ", server built from %s", r.Source)
	}
	b.WriteString(".\n\n")
	m := r.Machine
	fmt.Fprintf(&b, "Machine: %d cores, %s, %s, Linux %s; %s, %s, nginx %s, wrk %s.",
		m.Cores, m.MemoryGB, m.CPU, m.Kernel, m.Go, m.Nix, m.Nginx, m.Wrk)
	if m.LoadStart != "" {
		fmt.Fprintf(&b, " Load average %s at the start, %s at the end.", m.LoadStart, m.LoadEnd)
	}
	b.WriteString("\n\n")
	if f, ok := r.Settings["fixture"]; ok {
		fmt.Fprintf(&b, "Fixture: %v. Each figure is the median of %v runs (spread: min–max), runs of each contender interleaved.\n\n", f, r.Settings["runs"])
	}
	if svgName != "" {
		fmt.Fprintf(&b, "![ratios](%s)\n\n", svgName)
	}

	b.WriteString(r.ratiosTable())
	for _, sec := range []string{"mirror", "local"} {
		b.WriteString(r.valuesTable(sec))
	}
	b.WriteString(r.floorTable())
	b.WriteString(r.fleetTable(fleetSVGName(svgName)))
	b.WriteString(r.scaleTable())
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

// settings describes the run; the fixture only when one was made.
func (b *bench) settings() map[string]any {
	s := map[string]any{
		"runs":            b.cfg.reps,
		"load_seconds":    b.cfg.duration.Seconds(),
		"server":          b.server,
		"load_generator":  "wrk (Lua script cycling through the URLs); Go client for first-sight latencies; nix copy for closures",
		"ours_signing_by": "bench-ours-1",
		"scale_narinfos":  b.cfg.scaleSizes,
		"scale_seconds":   b.cfg.scaleDuration.Seconds(),
	}
	if b.fx != nil {
		s["fixture"] = fmt.Sprintf("%d store paths (%d small with references, %d × %d MiB half random, half text), zstd upstream",
			len(b.fx.Paths), b.cfg.params.Small, b.cfg.params.BigCount, b.cfg.params.BigSize>>20)
		s["misses_per_run"] = min(b.cfg.misses, len(b.fx.Paths))
		s["fixture_params"] = b.cfg.params
		s["store_paths"] = len(b.fx.Paths)
	}
	return s
}

// ratiosTable lists the ratios with their targets; "" when there are none
// (a run of the scale phase alone, with no earlier results).
func (r *Report) ratiosTable() string {
	if len(r.Ratios) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("### Ratios\n\n")
	b.WriteString("ours = private-nix-cache. Mirror rows: nginx = nginx proxy_cache, reference = straight from the upstream. ")
	b.WriteString("Local store rows: nginx = nginx serving a static uncompressed copy, reference = `nix-store --dump`.\n\n")
	b.WriteString("| measure | better | ours ÷ nginx | ours ÷ reference | target | met |\n|---|---|---|---|---|---|\n")
	type row struct{ nginx, ref, target, met string }
	rows := map[string]*row{}
	var order []string
	for _, ra := range r.Ratios {
		id := strings.SplitN(ra.ID, "/", 2)[0]
		rw, ok := rows[id]
		if !ok {
			rw = &row{nginx: "–", ref: "–"}
			rows[id] = rw
			order = append(order, id)
		}
		if strings.HasSuffix(ra.ID, "/nginx") {
			rw.nginx = fmtRatio(ra)
		} else {
			rw.ref = fmtRatio(ra)
		}
		if ra.Met != nil {
			rw.target = ra.TargetS
			rw.met = "no"
			if *ra.Met {
				rw.met = "yes"
			}
		}
	}
	for _, id := range order {
		m := r.index[id]
		rw := rows[id]
		fmt.Fprintf(&b, "| %s (%s) | %s | %s | %s | %s | %s |\n", m.Name, m.Unit, m.Better, rw.nginx, rw.ref, rw.target, rw.met)
	}
	return b.String()
}

// valuesTable lists the measured values of one section; "" when the run
// measured none of them (--only).
func (r *Report) valuesTable(sec string) string {
	var rows strings.Builder
	for _, m := range r.Measures {
		if section(m.ID) != sec {
			continue
		}
		fmt.Fprintf(&rows, "| %s | %s | %s | %s | %s | %s |\n", m.Name, m.Unit, m.Better,
			fmtSummary(m.Values["ours"]), fmtSummary(m.Values["nginx"]), fmtSummary(m.Values["ref"]))
	}
	if rows.Len() == 0 {
		return ""
	}
	cols := columns[sec]
	title := "Mirror (pull-through) values"
	if sec == "local" {
		title = "Local store values"
	}
	return fmt.Sprintf("\n### %s\n\n| measure | unit | better | %s | %s | %s |\n|---|---|---|---|---|---|\n%s", title, cols[0], cols[1], cols[2], rows.String())
}

// write stores the JSON, its latest.json copy, the SVG and the markdown in dir.
func (r *Report) write(dir, stamp string) (jsonFile, svgFile, mdFile string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", "", err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", "", "", err
	}
	js = append(js, '\n')
	jsonFile = filepath.Join(dir, stamp+".json")
	svgFile = filepath.Join(dir, "latest.svg")
	mdFile = filepath.Join(dir, "latest.md")
	files := map[string][]byte{
		jsonFile:                          js,
		filepath.Join(dir, "latest.json"): js,
		svgFile:                           []byte(svg(r.Ratios)),
		mdFile:                            []byte(r.Markdown("latest.svg")),
	}
	if r.hasFleet() {
		files[filepath.Join(dir, fleetSVGName("latest.svg"))] = []byte(fleetSVG(r))
	}
	for file, content := range files {
		if err := os.WriteFile(file, content, 0o644); err != nil {
			return "", "", "", err
		}
	}
	return jsonFile, svgFile, mdFile, nil
}

const (
	docBegin = "<!-- bench:begin (written by bench/run; edit outside these markers) -->"
	docEnd   = "<!-- bench:end -->"
)

// updateDoc replaces the generated part of BENCHMARKS.md, keeping the
// prose around it; a missing file gets a header first.
func updateDoc(file, summary string) error {
	old, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	block := docBegin + "\n" + summary + docEnd
	i, j := strings.Index(text, docBegin), strings.Index(text, docEnd)
	switch {
	case i >= 0 && j > i:
		text = text[:i] + block + text[j+len(docEnd):]
	case text == "":
		text = "# Benchmarks\n\n" + block + "\n"
	default:
		text = strings.TrimRight(text, "\n") + "\n\n" + block + "\n"
	}
	return os.WriteFile(file, []byte(text), 0o644)
}

// floorTable shows where net/http itself stands on the narinfo loads: the
// floor (bench/cmd/floor) against nginx, and ours against the floor.
func (r *Report) floorTable() string {
	var b strings.Builder
	for _, id := range []string{"hit_rps", "local_narinfo_rps"} {
		m, ok := r.index[id]
		if !ok || !m.Values["floor"].Valid() {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\n### net/http floor\n\n")
			b.WriteString("The least a net/http server does for the same requests: narinfos from a map, same headers, same server settings (`bench/cmd/floor`).\n\n")
			b.WriteString("| measure | floor | floor ÷ nginx | ours ÷ floor |\n|---|---|---|---|\n")
		}
		cell := func(num, den string) string {
			if ra, ok := ratioOf(m, num, den, "", 0, ""); ok {
				return fmtRatio(ra)
			}
			return "–"
		}
		fmt.Fprintf(&b, "| %s (%s) | %s | %s | %s |\n", m.Name, m.Unit, fmtSummary(m.Values["floor"]), cell("floor", "nginx"), cell("ours", "floor"))
	}
	return b.String()
}

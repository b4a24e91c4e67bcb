package main

import (
	"fmt"
	"html"
	"math"
	"path/filepath"
	"strings"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/stats"
)

// fleetColumns are the contenders of the fleet update, in table order.
var fleetColumns = []struct{ key, name string }{
	{"ref", "upstream direct"},
	{"nginx", "nginx proxy_cache"},
	{"ours", "private-nix-cache mirror"},
}

// fleetSVGName is the fleet chart beside the ratio chart svgName; "" for none.
func fleetSVGName(svgName string) string {
	if svgName == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(svgName), "latest-fleet.svg")
}

func (r *Report) hasFleet() bool {
	_, ok := r.index["fleet_cold"]
	return ok
}

// fleetTable renders the fleet update: times, the bastion's CPU per GB,
// the compression each mirror handed out, and the two ratios with targets.
func (r *Report) fleetTable(svgName string) string {
	if !r.hasFleet() {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n### Fleet update\n\n")
	if f := r.Fleet; f != nil {
		fmt.Fprintf(&b, "`nix copy --from URL --to FRESH` of a closure of real binaries: %s. Network: %s. Signatures required, no substituters, narinfo cache TTLs 0, own `XDG_CACHE_HOME` per run; %s.\n\n",
			f.Fixture, f.Network, runsText(f.Runs))
	}
	if svgName != "" {
		fmt.Fprintf(&b, "![fleet update](%s)\n\n", svgName)
	}
	b.WriteString("| measure |")
	for _, c := range fleetColumns {
		b.WriteString(" " + c.name + " |")
	}
	b.WriteString("\n|---|---|---|---|\n")
	for _, id := range []string{"fleet_cold", "fleet_warm", "fleet_cold_cpu", "fleet_warm_cpu"} {
		m, ok := r.index[id]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "| %s (%s) |", m.Name, m.Unit)
		for _, c := range fleetColumns {
			b.WriteString(" " + fmtSummary(m.Values[c.key]) + " |")
		}
		b.WriteString("\n")
	}
	if f := r.Fleet; f != nil {
		fmt.Fprintf(&b, "| compression handed out (narinfo, warm) | xz | %s | %s |\n", f.NginxComp, f.Compression)
	}
	b.WriteString("\n")
	for _, ra := range r.Ratios {
		if section(strings.SplitN(ra.ID, "/", 2)[0]) != "fleet" || ra.Met == nil {
			continue
		}
		met := "not met"
		if *ra.Met {
			met = "met"
		}
		fmt.Fprintf(&b, "- %s, %s: %s; target %s (%s).\n", ra.Name, ra.Of, fmtRatio(ra), ra.TargetS, met)
	}
	if f := r.Fleet; f != nil && f.Compression != "zstd" {
		fmt.Fprintf(&b, "- The mirror handed out %s: it passes the upstream's NARs on as they are, so its \"CPU s per GB re-encoded\" is its cold-fill cost, no re-encoding, and warm clients still unpack %s.\n",
			f.Compression, f.Compression)
	}
	return b.String()
}

func runsText(n int) string {
	if n == 1 {
		return "one run"
	}
	return fmt.Sprintf("median of %d runs (min–max)", n)
}

// fleetSVG draws the fleet update times: one bar per contender, cold and
// warm, on a linear axis in seconds, whiskers min–max.
func fleetSVG(r *Report) string {
	const (
		left, labelW, barW, rightW = 10, 230, 420, 90
		rowH, top                  = 24, 60
	)
	type row struct {
		header string
		label  string
		s      stats.Summary
		color  string
	}
	colors := map[string]string{"ref": "#888888", "nginx": "#c27c2e", "ours": "#4a78c2"}
	var rows []row
	xmax := 1.0
	for _, id := range []string{"fleet_cold", "fleet_warm"} {
		m, ok := r.index[id]
		if !ok {
			continue
		}
		rows = append(rows, row{header: strings.TrimPrefix(m.Name, "fleet update: ")})
		for _, c := range fleetColumns {
			if s := m.Values[c.key]; s.Valid() {
				rows = append(rows, row{label: c.name, s: s, color: colors[c.key]})
				xmax = math.Max(xmax, s.Max)
			}
		}
	}
	xmax = math.Ceil(xmax*1.1/5) * 5
	x0 := float64(left + labelW)
	x := func(v float64) float64 { return x0 + math.Min(v, xmax)/xmax*barW }
	bottom := top + rowH*len(rows)
	width, height := left+labelW+barW+rightW, bottom+30

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">`+"\n", width, height, width, height)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15" font-weight="bold">fleet update: nix copy of the closure (s, lower is better)</text>`+"\n", left)
	compression := "?"
	if r.Fleet != nil {
		compression = r.Fleet.Compression
	}
	fmt.Fprintf(&b, `<text x="%d" y="40" fill="#444">median of runs, whiskers min–max · upstream serves xz · the mirror handed out %s</text>`+"\n", left, html.EscapeString(compression))
	step := xmax / 5
	for v := 0.0; v <= xmax+1e-9; v += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e4e4e4"/>`+"\n", x(v), top-4, x(v), bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#444">%g s</text>`+"\n", x(v), bottom+16, v)
	}
	for i, rw := range rows {
		y := top + i*rowH
		if rw.header != "" {
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold" fill="#222">%s</text>`+"\n", left, y+16, html.EscapeString(rw.header))
			continue
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", left+8, y+16, html.EscapeString(rw.label))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x0, y+5, x(rw.s.Median)-x0, rowH-10, rw.color)
		if rw.s.Min != rw.s.Max {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#222"/>`+"\n", x(rw.s.Min), y+rowH/2, x(rw.s.Max), y+rowH/2)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s s</text>`+"\n", left+labelW+barW+10, y+16, fmtValue(rw.s.Median))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

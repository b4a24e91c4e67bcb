package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// svg draws the ratios as horizontal bars on a linear axis from 0, with a
// line at 1.0 and a tick at each row's target: green met, red missed, blue
// no target. The value, the target and whether higher or lower is better
// sit in a column on the right, so nothing overlaps the bars.
func svg(ratios []Ratio) string {
	const (
		left   = 10
		labelW = 300
		barW   = 380
		rightW = 340
		rowH   = 24
		top    = 64
	)
	xmax := 2.0
	for _, r := range ratios {
		xmax = math.Max(xmax, math.Min(math.Ceil(math.Max(r.Median, r.Target)*1.1*2)/2, 4))
	}
	x0 := float64(left + labelW)
	x := func(v float64) float64 { return x0 + math.Max(0, math.Min(v, xmax))/xmax*barW }

	type row struct {
		header string
		r      Ratio
	}
	var rows []row
	last := ""
	for _, r := range ratios {
		if sec := section(strings.SplitN(r.ID, "/", 2)[0]); sec != last {
			title := map[string]string{"mirror": "pull-through mirror", "local": "serving the local store",
				"fleet": "fleet update (nix copy of real binaries, xz upstream)"}[sec]
			rows = append(rows, row{header: title})
			last = sec
		}
		rows = append(rows, row{r: r})
	}
	bottom := top + rowH*len(rows)
	width := left + labelW + barW + rightW
	height := bottom + 30

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">`+"\n", width, height, width, height)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15" font-weight="bold">private-nix-cache ÷ nginx, upstream and Nix (median of runs, whiskers min–max)</text>`+"\n", left)
	fmt.Fprintf(&b, `<text x="%d" y="40" fill="#444">↑ higher is better · ↓ lower is better · black tick: target · green: met · red: missed · blue: no target · line at 1.0×: parity</text>`+"\n", left)

	for v := 0.0; v <= xmax+1e-9; v += 0.5 {
		stroke, w := "#e4e4e4", 1.0
		if v == 1 {
			stroke, w = "#000", 1.5
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%.1f"/>`+"\n", x(v), top-4, x(v), bottom, stroke, w)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#444">%.1f×</text>`+"\n", x(v), bottom+16, v)
	}

	for i, rw := range rows {
		y := top + i*rowH
		if rw.header != "" {
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold" fill="#222">%s</text>`+"\n", left, y+16, html.EscapeString(rw.header))
			continue
		}
		r := rw.r
		color, verdict := "#4a78c2", ""
		if r.Met != nil {
			color, verdict = "#c0392b", " ✗"
			if *r.Met {
				color, verdict = "#2e9e4f", " ✓"
			}
		}
		arrow := "↑"
		if r.Better == "lower" {
			arrow = "↓"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s %s</text>`+"\n", left+8, y+16, arrow, html.EscapeString(shorten(r.short(), 44)))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x0, y+5, x(r.Median)-x0, rowH-10, color)
		if r.Min != r.Max {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#222"/>`+"\n", x(r.Min), y+rowH/2, x(r.Max), y+rowH/2)
		}
		if r.Median > xmax {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="white" text-anchor="end" font-weight="bold">»</text>`+"\n", x(xmax)-3, y+16)
		}
		if r.Target > 0 {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" stroke-width="3"/>`+"\n", x(r.Target), y+1, x(r.Target), y+rowH-1)
		}
		value := fmt.Sprintf("%.2f×", r.Median)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold" fill="%s">%s%s</text>`+"\n", left+labelW+barW+12, y+16, color, value, verdict)
		if r.TargetS != "" {
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#444">target %s</text>`+"\n", left+labelW+barW+80, y+16, html.EscapeString(r.TargetS))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

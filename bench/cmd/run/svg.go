package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// svg draws the ratios as horizontal bars on a linear axis from 0, with a
// line at 1.0 and a mark at each row's target; green met, red missed,
// blue no target. Each label says whether higher or lower is better.
func svg(ratios []Ratio) string {
	const (
		labelW = 430
		barW   = 420
		rowH   = 26
		top    = 58
		left   = 10
	)
	xmax := 2.0
	for _, r := range ratios {
		xmax = math.Max(xmax, math.Min(math.Ceil(r.Median*1.15*2)/2, 4))
		if r.Target > 0 {
			xmax = math.Max(xmax, math.Min(math.Ceil(r.Target*1.1*2)/2, 4))
		}
	}
	x := func(v float64) float64 { return left + labelW + math.Min(v, xmax)/xmax*barW }
	width := left + labelW + barW + 120
	height := top + rowH*len(ratios) + 40

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15" font-weight="bold">private-nix-cache ÷ the others (median of runs; whiskers: min–max)</text>`+"\n", left)
	fmt.Fprintf(&b, `<text x="%d" y="38" fill="#444">green: target met · red: target missed · blue: no target · black tick: target · ↑ higher is better, ↓ lower is better</text>`+"\n", left)

	// Grid and axis labels every 0.5.
	bottom := top + rowH*len(ratios)
	for v := 0.0; v <= xmax+1e-9; v += 0.5 {
		stroke, w := "#ddd", 1.0
		if v == 1 {
			stroke, w = "#000", 1.5
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%.1f"/>`+"\n", x(v), top-6, x(v), bottom, stroke, w)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#444">%.1f×</text>`+"\n", x(v), bottom+16, v)
	}

	for i, r := range ratios {
		y := top + i*rowH
		color := "#4a78c2"
		if r.Met != nil {
			color = "#c0392b"
			if *r.Met {
				color = "#2e9e4f"
			}
		}
		arrow := "↑"
		if r.Better == "lower" {
			arrow = "↓"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="start">%s %s</text>`+"\n", left, y+15, arrow, html.EscapeString(shorten(r.label(), 66)))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x(0), y+4, x(r.Median)-x(0), rowH-10, color)
		if r.Min != r.Max {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#222" stroke-width="1"/>`+"\n", x(r.Min), y+rowH/2, x(r.Max), y+rowH/2)
		}
		if r.Target > 0 {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" stroke-width="3"/>`+"\n", x(r.Target), y+1, x(r.Target), y+rowH-1)
		}
		label := fmt.Sprintf("%.2f×", r.Median)
		if r.Median > xmax {
			label = "→ " + label
		}
		if r.TargetS != "" {
			label += "  (" + r.TargetS + ")"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", x(math.Max(r.Median, r.Max))+6, y+15, html.EscapeString(label))
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

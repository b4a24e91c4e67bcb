package main

import (
	"fmt"
	"strings"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/scale"
)

// scaleTargets are what the index is to reach at a million narinfos and
// 100,000 stored NARs; shown beside the figures, never asserted.
var scaleTargets = []string{"100,000", "≥ 25,000", "≤ 1,200", "< 1,000", "–", "–", "≤ 50", "–", "< 200", "< 1,000"}

// scaleTable renders the scale phase, one row per size; "" when none ran.
func (r *Report) scaleTable() string {
	if len(r.Scale) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n### Index at scale\n\n")
	row0 := r.Scale[0]
	fmt.Fprintf(&b, "A fresh `cache/disk` store filled through its API (`PutNarInfo`; `CreateFile` and `Commit`, %d at once) with generated narinfos as the mirror stores them "+
		"(xz, 5–20 references, one ed25519 signature) and a stored NAR of 2–8 KiB for a tenth of them, "+
		"then opened again in a new process (index in the page cache) and read for %s by %d goroutines, "+
		"alternating a lookup of a small set that stays in the narinfo LRU (hit) and one of a random other path (miss); the LRU holds 1%% of the paths. "+
		"Each step runs in its own `bench/cmd/scale` process; peak RSS is its VmHWM at the end of the reads, Open included, with the resident anonymous and file-backed (index mmap) parts then. "+
		"Insert rate: from the first `PutNarInfo` until `Close` returned. Targets (never asserted) are for 1,000,000 narinfos and 100,000 stored NARs.\n\n",
		scale.NARWriters, fmtDuration(row0.Read.ReadSeconds), row0.Read.Readers)
	b.WriteString("| narinfos | stored NARs | insert (narinfos/s) | index.db (B per narinfo) | open to serving (ms) | LRU hit p50 / p99 (µs) | LRU miss p50 (µs) | LRU miss p99 (µs) | lookups/s | peak RSS (MiB; anon + file at the end) | Close after reads (ms) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.Scale {
		f, rd := s.Fill, s.Read
		mib := func(v int64) string { return fmtValue(float64(v) / (1 << 20)) }
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s / %s | %s | %s | %s | %s (%s + %s) | %s |\n",
			fmtCount(s.NarInfos), fmtCount(s.NARs), fmtValue(f.InsertPerSecond), fmtValue(f.BytesPerNarInfo),
			fmtValue(rd.ServingSeconds*1e3), fmtValue(rd.Hit.P50), fmtValue(rd.Hit.P99), fmtValue(rd.Miss.P50), fmtValue(rd.Miss.P99),
			fmtValue(rd.LookupsPerSec), mib(rd.PeakRSS), mib(rd.RSSAnon), mib(rd.RSSFile), fmtValue(rd.CloseSeconds*1e3))
	}
	b.WriteString("| **target at 1,000,000** | " + strings.Join(scaleTargets, " | ") + " |\n")
	return b.String()
}

// fmtCount writes n with thousands separators: 100,000.
func fmtCount(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func fmtDuration(seconds float64) string {
	if seconds >= 60 && int(seconds)%60 == 0 {
		return fmt.Sprintf("%d min", int(seconds)/60)
	}
	return fmt.Sprintf("%g s", seconds)
}

package mirror

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// coldEnv is a mirror with an empty cache (on the disk of t.TempDir, so
// that fsyncs cost what they cost) in front of an upstream of n small
// paths, compressed with zstd (FileHash known) or, with noFileHash,
// without FileHash and FileSize (NarHash checked before the last byte).
func coldEnv(b *testing.B, n int, noFileHash bool) *env {
	b.Helper()
	files := make(map[string][]byte, n)
	for i := range n {
		files[fmt.Sprintf("p%05d", i)] = randomBytes(uint64(i), 2<<10+i%(8<<10))
	}
	o := envOptions{files: files}
	if noFileHash {
		o.prepare = func(dir string) { stripFileHashes(b, dir) }
	}
	return newEnv(b, o)
}

// reportLatencies reports the median and 90th percentile of lat.
func reportLatencies(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*9/10]), "p90-ms")
}

// BenchmarkColdNarInfo asks an empty mirror for narinfos one after the
// other, each seen for the first time (run with -benchtime=Nx).
func BenchmarkColdNarInfo(b *testing.B) {
	e := coldEnv(b, b.N, false)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		resp, body, err := e.get(hashPart(e.paths[i]) + ".narinfo")
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("narinfo: %v %s", err, body)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatencies(b, lat)
}

// BenchmarkColdNAR fetches the narinfos first (untimed), then each NAR,
// one after the other, each seen for the first time.
func BenchmarkColdNAR(b *testing.B) {
	for _, noFileHash := range []bool{false, true} {
		b.Run(map[bool]string{false: "filehash", true: "narhash"}[noFileHash], func(b *testing.B) {
			e := coldEnv(b, b.N, noFileHash)
			urls := make([]string, b.N)
			for i := range urls {
				urls[i] = e.narInfo(e.paths[i]).URL
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				resp, body, err := e.get(urls[i])
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("nar: %v %d bytes", err, len(body))
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			reportLatencies(b, lat)
		})
	}
}

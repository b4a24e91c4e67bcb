package fill

import (
	"testing"
	"time"
)

// Readers joining a download into memory while it runs must not race
// with the download appending to its buffer.
func TestFillMemoryLateJoiners(t *testing.T) {
	c := openTest(t, testOptions{})
	b := makeBlob(t, 512<<10, "none", true)
	src := &fakeSource{data: b.file, chunk: 16 << 10, delay: time.Millisecond}
	spec, done := specFor(b, src)

	// Spread the joins over the download.
	readConcurrently(t, c, b, spec, done, src, 64, func(i int) time.Duration {
		return time.Duration(i%16) * time.Millisecond
	})
}

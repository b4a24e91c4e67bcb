package fill

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// countChecks makes the testHookNarCheck of opts count the checks running
// at once; each lingers a little so that they overlap. It returns the
// highest count.
func countChecks(opts *testOptions) (most func() int64) {
	var running, peak atomic.Int64
	opts.testHookNarCheck = func() {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
	}
	return peak.Load
}

// fillAndRead opens b through c, reads it whole and waits for the fill to
// end, reporting with t.Error: it runs in goroutines.
func fillAndRead(ctx context.Context, t *testing.T, c *testCache, b *blob, spec *FillSpec, done *doneLog) {
	n, err := c.OpenNAR(ctx, b.key, spec)
	if err != nil {
		t.Error(err)
		return
	}
	defer n.Close()
	if got, err := readAllNAR(t, n); err != nil || !bytes.Equal(got, b.file) {
		t.Errorf("read %d of %d bytes: %v", len(got), len(b.file), err)
	}
	if err := done.wait(t); err != nil {
		t.Error(err)
	}
}

func TestCheckSlotsBoundConcurrentChecks(t *testing.T) {
	tests := []struct {
		name     string
		inMemory bool
	}{
		{"memory", true},
		{"temp files", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts testOptions
			if !tt.inMemory {
				opts.memoryBudget = -1
			}
			most := countChecks(&opts)
			c := openTest(t, opts)
			want := int64(cap(c.checks.ready))
			if !tt.inMemory {
				want += int64(cap(c.checks.stream))
			}
			const fills = 40 // many more than slots
			compressions := []string{"zstd", "xz", "none"}
			var wg sync.WaitGroup
			for i := range fills {
				b := makeBlob(t, 8<<10, compressions[i%len(compressions)], i%2 == 0)
				if tt.inMemory {
					// Only a known size goes into memory; NarHash is
					// still the only hash of every other blob.
					b.spec.FileSize = uint64(len(b.file))
				}
				src := &fakeSource{data: b.file, chunk: 1 << 10, delay: time.Millisecond}
				spec, done := specFor(b, src)
				wg.Go(func() { fillAndRead(context.Background(), t, c, b, spec, done) })
			}
			wg.Wait()
			if got := most(); got > want || got < 1 {
				t.Errorf("%d checks ran at once, want 1 to %d", got, want)
			}
			for _, ch := range []chan struct{}{c.checks.ready, c.checks.stream} {
				if len(ch) != 0 {
					t.Errorf("%d slots still taken after every fill ended", len(ch))
				}
			}
		})
	}
}

// A check waiting for a slot delays no transfer, and a download that
// stalls with its check beside it keeps no other check waiting.
func TestCheckSlotsWaitersProgress(t *testing.T) {
	// Temp files: checks may take stream slots.
	c := openTest(t, testOptions{StallTimeout: time.Minute, memoryBudget: -1})
	c.checks = &checkSlots{ready: make(chan struct{}, 1), stream: make(chan struct{}, 1)}

	// The stalled download's check holds the only stream slot.
	stalled := makeBlob(t, 64<<10, "zstd", false)
	stalledSpec, _ := specFor(stalled, &fakeSource{data: stalled.file, stallAt: len(stalled.file) / 2})
	sn, err := c.OpenNAR(context.Background(), stalled.key, stalledSpec)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	waitFor(t, "stream slot taken", func() bool { return len(c.checks.stream) == 1 })

	// The ready slot is taken too: checks queue, transfers go on.
	c.checks.ready <- struct{}{}
	withHash := makeBlob(t, 64<<10, "xz", true)
	spec, done := specFor(withHash, &fakeSource{data: withHash.file})
	n, err := c.OpenNAR(context.Background(), withHash.key, spec)
	if err != nil {
		t.Fatal(err)
	}
	// Every byte but the last: FileHash matching is not enough for it.
	head := make([]byte, len(withHash.file)-1)
	if err := n.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(n, head); err != nil || !bytes.Equal(head, withHash.file[:len(head)]) {
		t.Fatalf("with FileHash, read of all but the last byte while its check waits: %v", err)
	}
	waitFor(t, "download ended", func() bool { return n.(*followNAR).fill.state().eof })
	assertNotStoredYet(t, c, withHash.key)
	<-c.checks.ready
	if rest, err := io.ReadAll(n); err != nil || !bytes.Equal(append(head, rest...), withHash.file) {
		t.Fatalf("with FileHash, the last byte after the check: %d bytes, %v", len(rest), err)
	}
	n.Close()

	// More fills than slots, without FileHash: each last byte waits for
	// its check, which runs once its download ended.
	var wg sync.WaitGroup
	for i := range 6 {
		b := makeBlob(t, 32<<10, []string{"zstd", "xz", "none"}[i%3], false)
		spec, done := specFor(b, &fakeSource{data: b.file, chunk: 4 << 10})
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			fillAndRead(ctx, t, c, b, spec, done)
		})
	}
	wg.Wait()
	if err := done.wait(t); err != nil {
		t.Fatal(err)
	}
	if len(c.checks.stream) != 1 {
		t.Fatal("the stalled download's check gave up its stream slot")
	}
}

func assertNotStoredYet(t *testing.T, c *testCache, key string) {
	t.Helper()
	if hit, err := c.OpenNAR(context.Background(), key, nil); err == nil {
		hit.Close()
		t.Fatalf("%s committed before its NarHash check", key)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Pooled zstd decoders give each NAR the result a new decoder would,
// whatever the one before left behind.
func TestPooledZstdReuse(t *testing.T) {
	big := makeBlob(t, 1<<20, "zstd", false)
	small := makeBlob(t, 10<<10, "zstd", false)
	corrupt := bytes.Clone(big.file)
	corrupt[len(corrupt)/2] ^= 0xff
	truncated := big.file[:len(big.file)/2]
	overlong := big.spec
	overlong.NarSize-- // stops reading mid-frame
	tests := []struct {
		name   string
		spec   *FillSpec
		file   []byte
		verify bool // want cache.ErrVerify
	}{
		{"corrupt", &big.spec, corrupt, true},
		{"small", &small.spec, small.file, false},
		{"truncated", &big.spec, truncated, true},
		{"big", &big.spec, big.file, false},
		{"overlong", &overlong, big.file, true},
		{"small again", &small.spec, small.file, false},
		{"junk", &small.spec, []byte("not zstd at all, not even a magic number"), true},
		{"big again", &big.spec, big.file, false},
	}
	// The pool may drop decoders (it does at random under -race): go
	// round several times so that most checks reuse one.
	for round := range 5 {
		for _, tt := range tests {
			err := verifyNar(tt.spec, bytes.NewReader(tt.file))
			if got := errors.Is(err, cache.ErrVerify); got != tt.verify || (err != nil) != tt.verify {
				t.Fatalf("round %d, %s: verifyNar = %v, want cache.ErrVerify %v", round, tt.name, err, tt.verify)
			}
		}
	}

}

// zstdFrame is one frame of raw blocks whose header asks for a window of
// 1<<windowLog bytes, whatever its content.
func zstdFrame(windowLog int, content []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0xFD2FB528)
	b = append(b, 0x00, byte(windowLog-10)<<3) // no content size, no checksum; window descriptor
	for len(content) > 0 {
		n := min(len(content), 64<<10)
		last := 0
		if n == len(content) {
			last = 1
		}
		h := uint32(last) | uint32(n)<<3 // raw block
		b = append(b, byte(h), byte(h>>8), byte(h>>16))
		b = append(b, content[:n]...)
		content = content[n:]
	}
	return b
}

func TestZstdWindowLimit(t *testing.T) {
	nar := randomBytes(7, 100<<10)
	for _, tt := range []struct {
		windowLog int
		verify    bool
	}{
		{20, false},
		{27, false}, // the most libzstd decodes by default
		{28, true},
		{31, true},
	} {
		t.Run(fmt.Sprint(tt.windowLog), func(t *testing.T) {
			spec := &FillSpec{Compression: "zstd", NarHash: sha(nar), NarSize: uint64(len(nar))}
			err := verifyNar(spec, bytes.NewReader(zstdFrame(tt.windowLog, nar)))
			if got := errors.Is(err, cache.ErrVerify); got != tt.verify || (err != nil) != tt.verify {
				t.Fatalf("verifyNar = %v, want cache.ErrVerify %v", err, tt.verify)
			}
		})
	}
}

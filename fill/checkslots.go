package fill

import (
	"context"
	"io"
	"runtime"
)

// checkSlots bounds the NarHash checks of fills that decompress at once.
// Each holds a decoder of megabytes (an xz reader allocates its whole
// dictionary, 8 MiB for xz -6; a zstd decoder a ring of its window), and
// on few cores more of them at once only take turns: a burst of misses
// would otherwise hold one decoder per download.
//
// Nothing waiting for a slot can hold up a slot's holder, so the wait
// always ends:
//   - a ready slot is taken once the download ended: its check reads bytes
//     already in memory or in the temp file, and waits for no network, no
//     client and no other check;
//   - a stream slot lets a check run beside its download; it is only
//     taken when free, never waited for, so a download that stalls delays
//     its own check alone.
//
// The download itself never waits for its check before its last byte, and
// followers have every byte but the last meanwhile, so a queued check
// delays only the last byte.
// Pass-through streams are not counted: their client sets their pace.
type checkSlots struct {
	ready  chan struct{}
	stream chan struct{}
}

func newCheckSlots() *checkSlots {
	n := max(2, runtime.GOMAXPROCS(0))
	return &checkSlots{ready: make(chan struct{}, n), stream: make(chan struct{}, n)}
}

// tryStream takes a stream slot if one is free.
func (s *checkSlots) tryStream() (release func(), ok bool) {
	select {
	case s.stream <- struct{}{}:
		return func() { <-s.stream }, true
	default:
		return nil, false
	}
}

// acquireReady waits for a ready slot, or for ctx's end.
func (s *checkSlots) acquireReady(ctx context.Context) (release func(), err error) {
	select {
	case s.ready <- struct{}{}:
		return func() { <-s.ready }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// checkNar runs the NarHash check of f on r, a reader of its bytes (the
// decoded NAR also going to the new file of its Reencode, started once the
// slot is held, so that encoders are bounded by the slots too),
// within the slots: beside the download when a stream slot is free (a
// download into memory never takes one: it is short, and its bytes are
// held anyway), else once the download ended.
func (f *fill) checkNar(ctx context.Context, r io.Reader) (*reencoder, error) {
	slots := f.c.checks
	release, ok := func() {}, false
	if !f.inMemory {
		release, ok = slots.tryStream()
	}
	if !ok {
		if err := f.waitEOF(ctx); err != nil {
			return nil, err
		}
		var err error
		if release, err = slots.acquireReady(ctx); err != nil {
			return nil, err
		}
	}
	defer release()
	if f.c.opts.testHookNarCheck != nil {
		f.c.opts.testHookNarCheck()
	}
	re := f.newReencoder()
	return re, verifyNarTo(f.spec, r, re.sink())
}

// waitEOF waits until the upstream body ended, the download failed, or
// ctx ended.
func (f *fill) waitEOF(ctx context.Context) error {
	for {
		st := f.state()
		if st.err != nil {
			return st.err
		}
		if st.eof || st.done {
			return nil
		}
		select {
		case <-st.notify:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

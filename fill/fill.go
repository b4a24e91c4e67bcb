package fill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// FillSpec says how to download one NAR file and how to check it.
type FillSpec struct {
	// Compression as the narinfo says ("" means bzip2).
	Compression string
	// FileHash and FileSize describe the file as stored, when known (nil, 0
	// otherwise). The narinfo signature does not cover them, so a file is
	// served whole or stored only once decompressed and checked against
	// NarHash and NarSize, which it covers. FileHash and FileSize are
	// checked as the bytes arrive, to fail a bad file early.
	FileHash *nixhash.Hash
	FileSize uint64
	// NarHash and NarSize describe the decompressed NAR. A compression that
	// cannot be decoded here is streamed without being stored.
	NarHash *nixhash.Hash
	NarSize uint64
	// Fetch opens the upstream body from byte offset on: 0 at first, then
	// the bytes already written (or sent, for a stream that is not stored)
	// when a body that broke off (cut, reset, stalled, ended short) is
	// resumed, at most maxResumes times per download. length is the
	// length of the body from offset, -1 when unknown. A file the upstream
	// does not have is fs.ErrNotExist.
	Fetch func(ctx context.Context, offset int64) (body io.ReadCloser, length int64, err error)
	// Reencode, when set, also makes a file of the NAR in another
	// compression from the bytes the NarHash check decodes (reencode.go).
	// Only a download that is stored does.
	Reencode *Reencode
	// Upstream names the source in logs ("" when there is none to name).
	Upstream string
	// Done, when set, is called once when the download ends: with an
	// error before any reader sees it, or with nil once the file is
	// committed (readers may have had every byte since it verified). It
	// is not called for hits, nor for a pass-through stream whose client
	// left. When the temp file refuses a write, it is called with that
	// error (cache.ErrStorage), then once more for each follower that goes on as
	// a pass-through stream.
	Done func(err error)
}

// fill is one upstream download into a temp file that any number of
// readers follow. It runs on the cache's context with its own timeout and
// stall detector: no client can slow it down or cancel it. A body that
// breaks off is resumed from the bytes written (see resumingBody).
type fill struct {
	c    *Cache
	key  string
	spec *FillSpec
	// incomingDone ends the store's Incoming of the file.
	incomingDone func()
	w            cache.FileWriter
	// inMemory is set before the fill is published and never changes:
	// readers decide from it, not from mem, which the download rewrites.
	inMemory bool

	mu       sync.Mutex
	mem      []byte // the bytes so far of a download into memory (nil: a temp file)
	started  bool   // the upstream answered; size is valid
	size     int64  // expected bytes, -1 when unknown
	written  int64
	eof      bool // the upstream body ended (not yet verified)
	verified bool // NarHash and NarSize matched: the bytes are good, whatever the commit does
	done     bool // committed (err nil) or failed
	err      error
	notify   chan struct{} // closed and replaced on every change
}

type fillState struct {
	started, eof, verified, done bool
	size, written                int64
	mem                          []byte
	err                          error
	notify                       <-chan struct{}
}

func (f *fill) state() fillState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fillState{f.started, f.eof, f.verified, f.done, f.size, f.written, f.mem, f.err, f.notify}
}

// readErr is the error readers get: none once the bytes verified, even if
// the commit that follows failed (they read their own descriptor).
func (st *fillState) readErr() error {
	if st.verified {
		return nil
	}
	return st.err
}

// update changes the state under the lock and wakes every reader.
func (f *fill) update(change func()) {
	f.mu.Lock()
	change()
	close(f.notify)
	f.notify = make(chan struct{})
	f.mu.Unlock()
}

// remaining is how many bytes the fill still expects to write.
func (f *fill) remaining() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.size < 0 {
		return 0
	}
	return f.size - f.written
}

func (f *fill) run() {
	defer f.c.wg.Done()
	f.c.m.fillsInFlight.Inc()
	defer f.c.m.fillsInFlight.Dec()
	start := time.Now()
	err := f.download()
	if err != nil && f.c.ctx.Err() != nil && !errors.Is(err, cache.ErrStorage) {
		err = fmt.Errorf("%w: cache closed: %w", cache.ErrStorage, err)
	}
	// Done runs before readers learn the outcome, so that whatever it
	// records (an upstream marked bad) is in place when they react.
	if f.spec.Done != nil {
		f.spec.Done(err)
	}
	if err != nil {
		if errors.Is(err, cache.ErrVerify) {
			f.c.m.verifyFailed.Inc()
		}
		f.update(func() { f.done, f.err = true, err })
		if f.w != nil {
			f.w.Cancel()
		}
		f.c.log.Warn("nar download failed", "key", f.key, "err", err)
	} else {
		f.update(func() { f.done = true })
		f.c.log.Debug("nar stored", "key", f.key, "bytes", f.written, "took", time.Since(start))
	}
	f.c.mu.Lock()
	if f.c.fills[f.key] == f { // a failed fill may have been replaced already
		delete(f.c.fills, f.key)
	}
	f.c.mu.Unlock()
	f.incomingDone()
	f.c.releaseMemory(int64(cap(f.mem)))
}

// failed reports whether the fill ended in failure: new readers must start
// a new one rather than join it.
func (f *fill) failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err != nil
}

func (f *fill) download() error {
	c := f.c
	ctx, cancel := context.WithTimeoutCause(c.ctx, c.opts.FillTimeout,
		fmt.Errorf("download took longer than %s", c.opts.FillTimeout))
	defer cancel()

	body, err := c.openResuming(ctx, f.key, f.spec)
	if err != nil {
		return err
	}
	defer body.Close()
	size := body.size
	f.update(func() { f.started, f.size = true, size })
	check, err := f.startCheck(ctx, size)
	if err != nil {
		return err
	}
	if err := f.copyBody(body, check); err != nil {
		return err
	}
	f.update(func() { f.eof = true })
	// Followers have every byte but the last meanwhile; Nix would catch a
	// file whose FileHash matched and NarHash did not, but only a NAR that
	// verified may ever be served whole.
	if err := check.verify(ctx); err != nil {
		return err
	}
	// Readers may have the last byte now; the commit's fsyncs are for the
	// cache alone. Readers joining meanwhile follow the file as the
	// store's writer hands it out (FileWriter.Follow).
	f.update(func() { f.verified = true })
	if f.w == nil {
		// Downloaded into memory: now to the store, then committed as any file.
		w, err := c.store.CreateFile(f.key)
		if err != nil {
			return err
		}
		f.w = w
		if _, err := w.Write(f.mem); err != nil {
			return err
		}
	}
	return f.w.CommitBatched(ctx)
}

// startCheck starts checking the file of f: a second reader of its bytes
// decompresses them, beside the download or after it (checkNar), and
// checks NarHash and NarSize: nothing is served whole or committed
// without them, and the download never waits for it before its last byte.
func (f *fill) startCheck(ctx context.Context, size int64) (*fileCheck, error) {
	check, err := newFileCheck(f.spec, size)
	if err != nil {
		return nil, err
	}
	r, err := f.join(ctx, true)
	if err != nil {
		return nil, err
	}
	f.c.wg.Add(1)
	go func() {
		defer f.c.wg.Done()
		defer r.Close()
		re, err := f.checkNar(ctx, r)
		check.nar.ch <- err // readers go on: the new file is the cache's alone
		re.finish(err)
	}()
	return check, nil
}

// errTempWrite marks a download whose temp file refused a write (disk
// full, quota, read-only, I/O error): its followers go on as pass-through
// streams from where the file stopped (followNAR.handOver).
var errTempWrite = errors.New("temp file refused a write")

// copyBody writes the upstream body into the temp file or memory, through
// check, and tells followers of every step.
func (f *fill) copyBody(body io.Reader, check *fileCheck) error {
	bufSize := 256 << 10
	if f.inMemory {
		bufSize = min(bufSize, cap(f.mem)+1) // +1: an overlong body shows
	}
	buf := make([]byte, bufSize)
	mem := f.mem
	var written int64
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if err := check.add(buf[:n]); err != nil {
				return err
			}
			if mem != nil {
				mem = append(mem, buf[:n]...) // within its capacity: readers keep their view
			} else if _, err := f.w.Write(buf[:n]); err != nil {
				return fmt.Errorf("%w: %w", errTempWrite, err)
			}
			written += int64(n)
			f.update(func() {
				f.written = written
				if mem != nil {
					f.mem = mem
				}
			})
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// narCheckFailed says whom to blame when the NarHash check failed: the
// content (cache.ErrVerify), the download's end (its cause), else the reading of
// the temp file (cache.ErrStorage).
func narCheckFailed(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, cache.ErrVerify) || errors.Is(err, cache.ErrStorage):
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("check NarHash: %w", context.Cause(ctx))
	}
	return fmt.Errorf("check NarHash: %w: %w", cache.ErrStorage, err)
}

// narCheck is the outcome of the NarHash check running beside a download.
type narCheck struct {
	ch   chan error // receives the one result
	done bool
	err  error
}

// poll returns the result if it has come, without waiting.
func (n *narCheck) poll() (done bool, err error) {
	if !n.done {
		select {
		case n.err = <-n.ch:
			n.done = true
		default:
		}
	}
	return n.done, n.err
}

// wait returns the result once it has come, or the cause of ctx's end.
func (n *narCheck) wait(ctx context.Context) error {
	if done, err := n.poll(); done {
		return err
	}
	select {
	case n.err = <-n.ch:
		n.done = true
		return n.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// fileSize is the size of the NAR file as the narinfo tells it
// (narinfo.KnownFileSize).
func fileSize(spec *FillSpec) uint64 {
	return narinfo.KnownFileSize(spec.Compression, spec.FileSize, spec.NarSize)
}

// expectedSize is the file size the narinfo tells (fileSize), else the
// upstream's Content-Length, else -1; the two must agree.
func expectedSize(spec *FillSpec, length int64) (int64, error) {
	want := fileSize(spec)
	if want == 0 {
		return length, nil
	}
	if length >= 0 && uint64(length) != want {
		return 0, fmt.Errorf("%w: upstream announces %d bytes, narinfo says %d", cache.ErrVerify, length, want)
	}
	return int64(want), nil
}

// maxFileSize bounds a compressed file whose size nothing announces, so
// that junk or an endless stream fails long before FillTimeout: the
// compressors Nix uses grow incompressible data by well under 1% plus a
// few headers; NarSize/2 + 1 MiB of slack is far beyond that. It is -1
// when NarSize is unknown.
func maxFileSize(spec *FillSpec) int64 {
	if spec.NarSize == 0 {
		return -1
	}
	if narinfo.Uncompressed(spec.Compression) {
		return int64(spec.NarSize)
	}
	return int64(spec.NarSize + spec.NarSize/2 + 1<<20)
}

// stallGuard calls cancel when progress has not been reported for d.
type stallGuard struct {
	last   chan struct{}
	quit   chan struct{}
	once   sync.Once
	cancel context.CancelCauseFunc
}

func newStallGuard(d time.Duration, cancel context.CancelCauseFunc) *stallGuard {
	g := &stallGuard{last: make(chan struct{}, 1), quit: make(chan struct{}), cancel: cancel}
	go func() {
		t := time.NewTimer(d)
		defer t.Stop()
		for {
			select {
			case <-g.quit:
				return
			case <-g.last:
				t.Reset(d)
			case <-t.C:
				cancel(fmt.Errorf("upstream stalled: no data for %s", d))
				return
			}
		}
	}()
	return g
}

func (g *stallGuard) progress() {
	select {
	case g.last <- struct{}{}:
	default:
	}
}

func (g *stallGuard) stop() { g.once.Do(func() { close(g.quit) }) }

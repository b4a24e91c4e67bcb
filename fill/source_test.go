package fill

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// fakeSource serves one body per Fetch with optional pacing and faults.
// Fetch honours the offset, as a 206 would; fault positions count from
// the start of the file.
type fakeSource struct {
	data      []byte
	chunk     int           // bytes per Read; 0 = all
	delay     time.Duration // before each chunk
	firstWait time.Duration // before answering
	length    int64         // announced for the whole file; 0 = len(data), -1 unknown
	err       error         // returned by Fetch
	resumeErr error         // returned by Fetch from an offset > 0
	resumeLen int64         // announced by Fetch from an offset > 0; 0: the rest
	cutAt     int           // >0: the body fails after that many bytes
	stallAt   int           // >0: the body blocks (until ctx ends) after that many bytes
	endAt     int           // >0: the body ends (io.EOF) after that many bytes
	faulty    int           // fetches that cutAt, stallAt and endAt hit; 0: all

	calls   atomic.Int32
	sent    atomic.Int64
	mu      sync.Mutex
	offsets []int64 // asked for, in order
}

func (s *fakeSource) fetch(ctx context.Context, offset int64) (io.ReadCloser, int64, error) {
	call := int(s.calls.Add(1))
	s.mu.Lock()
	s.offsets = append(s.offsets, offset)
	s.mu.Unlock()
	if s.firstWait > 0 {
		select {
		case <-time.After(s.firstWait):
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	if s.err != nil {
		return nil, 0, s.err
	}
	if s.resumeErr != nil && offset > 0 {
		return nil, 0, s.resumeErr
	}
	n := s.length
	if n == 0 {
		n = int64(len(s.data))
	}
	if n > 0 {
		n -= offset
	}
	if offset > 0 && s.resumeLen != 0 {
		n = s.resumeLen
	}
	return &fakeBody{s: s, ctx: ctx, pos: int(offset), faulty: s.faulty == 0 || call <= s.faulty}, n, nil
}

// clone returns a source with s's data, pacing and faults, and none of
// its counts.
func (s *fakeSource) clone() *fakeSource {
	return &fakeSource{data: s.data, chunk: s.chunk, delay: s.delay, firstWait: s.firstWait,
		length: s.length, err: s.err, resumeErr: s.resumeErr, resumeLen: s.resumeLen,
		cutAt: s.cutAt, stallAt: s.stallAt, endAt: s.endAt, faulty: s.faulty}
}

// fetched returns the offsets asked for so far.
func (s *fakeSource) fetched() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.offsets...)
}

type fakeBody struct {
	s      *fakeSource
	ctx    context.Context
	pos    int
	faulty bool // the faults hit this body
}

func (b *fakeBody) Read(p []byte) (int, error) {
	s := b.s
	cutAt, stallAt, endAt := s.cutAt, s.stallAt, s.endAt
	if !b.faulty {
		cutAt, stallAt, endAt = 0, 0, 0
	}
	if b.pos >= len(s.data) || (endAt > 0 && b.pos >= endAt) {
		return 0, io.EOF
	}
	if cutAt > 0 && b.pos >= cutAt {
		return 0, errors.New("connection reset by fake")
	}
	if stallAt > 0 && b.pos >= stallAt {
		<-b.ctx.Done()
		return 0, b.ctx.Err()
	}
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		}
	}
	n := len(p)
	if s.chunk > 0 && n > s.chunk {
		n = s.chunk
	}
	for _, at := range []int{cutAt, stallAt, endAt} {
		if at > 0 && b.pos+n > at {
			n = at - b.pos
		}
	}
	n = copy(p[:n], s.data[b.pos:])
	b.pos += n
	s.sent.Add(int64(n))
	return n, nil
}

func (b *fakeBody) Close() error { return nil }

// Package flight runs one call per key at a time, whatever the number of
// callers, detached from each caller: a caller that leaves stops waiting,
// but neither cancels the call nor fails the others. It holds no result
// after a call ends.
package flight

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrLeft wraps the cause of a caller's context ending before the call
// it waited for.
var ErrLeft = errors.New("caller stopped waiting")

// Group runs calls by key. The zero value runs calls without a timeout.
type Group[K comparable, V any] struct {
	timeout time.Duration
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu    sync.Mutex
	calls map[K]*call[V]
}

type call[V any] struct {
	done chan struct{}
	v    V
	err  error
}

// New returns a Group whose calls each run for at most timeout (zero:
// no bound of the Group's own).
func New[K comparable, V any](timeout time.Duration) *Group[K, V] {
	return &Group[K, V]{timeout: timeout}
}

// initLocked makes what the zero value lacks.
func (g *Group[K, V]) initLocked() {
	if g.calls == nil {
		g.calls = make(map[K]*call[V])
		g.ctx, g.cancel = context.WithCancel(context.Background())
	}
}

// Do runs fn for key unless a call for key is in progress, and waits for
// the outcome or for ctx to end (the error then wraps ErrLeft and the
// cause). fn runs on context.WithoutCancel(ctx) of the caller that
// started it, bounded by the Group's timeout and ended by Close.
func (g *Group[K, V]) Do(ctx context.Context, key K, fn func(ctx context.Context) (V, error)) (V, error) {
	g.mu.Lock()
	g.initLocked()
	c := g.calls[key]
	if c == nil {
		c = &call[V]{done: make(chan struct{})}
		g.calls[key] = c
		g.wg.Add(1)
		go g.run(context.WithoutCancel(ctx), key, c, fn)
	}
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
		var zero V
		return zero, fmt.Errorf("%w: %w", ErrLeft, context.Cause(ctx))
	}
}

func (g *Group[K, V]) run(ctx context.Context, key K, c *call[V], fn func(context.Context) (V, error)) {
	defer g.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(g.ctx, cancel)
	defer stop()
	if g.timeout > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeout(ctx, g.timeout)
		defer cancelT()
	}
	c.v, c.err = fn(ctx)
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
	close(c.done)
}

// Close cancels the calls in progress and waits for them to return.
func (g *Group[K, V]) Close() {
	g.mu.Lock()
	g.initLocked()
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}

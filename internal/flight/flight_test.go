package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOneCallPerKey(t *testing.T) {
	g := New[string, int](0)
	defer g.Close()
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := g.Do(context.Background(), "k", func(context.Context) (int, error) {
				calls.Add(1)
				<-release
				return 7, nil
			})
			if v != 7 || err != nil {
				t.Errorf("Do = %d, %v", v, err)
			}
		}()
	}
	for {
		g.mu.Lock()
		started := g.calls["k"] != nil
		g.mu.Unlock()
		if started {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := calls.Load(); n < 1 || n > 10 {
		t.Fatalf("%d calls", n)
	}
}

func TestCallerLeavesCallGoesOn(t *testing.T) {
	g := New[string, int](0)
	defer g.Close()
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	release := make(chan struct{})
	finished := make(chan error, 1)
	go func() {
		_, err := g.Do(ctx, "k", func(fctx context.Context) (int, error) {
			<-release
			if fctx.Value(ctxKey{}) != "v" {
				t.Error("values of the caller's context are lost")
			}
			finished <- fctx.Err()
			return 1, nil
		})
		if !errors.Is(err, ErrLeft) || !errors.Is(err, context.Canceled) {
			t.Errorf("Do after leaving = %v", err)
		}
		close(release)
	}()
	cancel()
	if err := <-finished; err != nil {
		t.Fatalf("the call was cancelled with its caller: %v", err)
	}
}

type ctxKey struct{}

func TestTimeoutAndClose(t *testing.T) {
	g := New[int, int](time.Millisecond)
	_, err := g.Do(context.Background(), 1, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
	g = New[int, int](0)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := g.Do(context.Background(), 1, func(ctx context.Context) (int, error) {
			close(started)
			<-ctx.Done()
			return 0, ctx.Err()
		})
		done <- err
	}()
	<-started
	g.Close()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("after Close: %v", err)
	}
}

package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"time"
)

// expireStep bounds the paths one step of the expiry removes, so that a
// step holds the pushed store for milliseconds.
const expireStep = 256

// expiry removes pushed paths older than maxAge in the background, in two
// phases a step apart: narinfos first, so that no client is sent to a
// missing NAR; a step later, once the cache has written their deletion,
// their ages and the NAR files no narinfo names any more. A crash in
// between leaves ages that expire again.
type expiry struct {
	s      *pushStore
	maxAge time.Duration
	log    *slog.Logger
	// unlisted are the paths whose narinfos went in the last step.
	unlisted []agedPath
}

// expireInterval is the time between steps: a tenth of the age, between
// 1s (past the cache's commit delay) and a minute.
func expireInterval(maxAge time.Duration) time.Duration {
	return min(max(maxAge/10, time.Second), time.Minute)
}

// startExpiry runs the expiry until the returned stop is called.
func startExpiry(s *pushStore, maxAge time.Duration, log *slog.Logger) (stop func() error) {
	e := &expiry{s: s, maxAge: maxAge, log: log}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(expireInterval(maxAge))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := e.step(time.Now()); err != nil {
					log.Warn("expire pushed paths", "err", err)
				}
			}
		}
	}()
	return func() error { cancel(); wg.Wait(); return nil }
}

// step finishes the paths unlisted by the last step and unlists the next
// ones older than maxAge at now.
func (e *expiry) step(now time.Time) error {
	s := e.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(e.unlisted) > 0 {
		files, err := e.finish(e.unlisted)
		if err != nil {
			return err
		}
		e.log.Info("expired pushed paths", "paths", len(e.unlisted), "nar_files", files, "push-max-age", e.maxAge)
		e.unlisted = nil
	}
	old, err := s.ages.olderThan(now.Add(-e.maxAge), expireStep)
	if err != nil {
		return err
	}
	for i, p := range old {
		if err := s.c.DeleteNarInfo(p.hashPart); err != nil {
			e.unlisted = old[:i]
			return err
		}
	}
	e.unlisted = old
	return nil
}

// finish forgets the ages of paths and removes the NAR files no narinfo
// names any more; it returns how many files it removed.
func (e *expiry) finish(paths []agedPath) (int, error) {
	s := e.s
	unnamed, err := s.ages.remove(paths)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, nar := range unnamed {
		err := s.c.DeleteFile(nar)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

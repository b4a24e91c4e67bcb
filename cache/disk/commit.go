package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// File commits are batched: the disk goroutine syncs every file of a
// batch, renames them, syncs each folder once and records them, so that a
// burst of small NARs costs a few journal commits rather than several per
// file, and at most one goroutine waits in fsync (with two cores, each one
// waiting holds a processor until the scheduler notices).

// commitReq is one Writer waiting for its commit.
type commitReq struct {
	w      *Writer
	result chan error // buffered(1)
	final  string
	err    error
}

// commit is Commit. Unless urgent, it waits for the next batch
// (Options.CommitDelay), or until hurry is closed (nil: never), whichever
// comes first. Followers (Follow) open the file under its final name as
// soon as it is there, before its folder is synced.
func (w *Writer) commit(urgent bool, hurry <-chan struct{}) error {
	if w.closed {
		return errors.New("commit: writer already closed")
	}
	w.closed = true
	r := &commitReq{w: w, result: make(chan error, 1)}
	p := w.c.pending
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		w.f.Close()
		os.Remove(w.tmp)
		return fmt.Errorf("commit %s: %w: cache closed", w.key, cache.ErrStorage)
	}
	p.commits = append(p.commits, r)
	full := p.fullLocked()
	p.mu.Unlock()
	if urgent || full {
		p.signalUrgent()
	} else {
		p.signal()
	}
	select {
	case err := <-r.result:
		return err
	case <-hurry:
	}
	p.signalUrgent()
	return <-r.result
}

// commitFiles commits the files waiting and returns how many there were.
func (c *Cache) commitFiles() int {
	p := c.pending
	p.mu.Lock()
	reqs := p.commits
	p.commits = nil
	p.mu.Unlock()
	if len(reqs) == 0 {
		return 0
	}
	for _, r := range reqs {
		if err := r.w.f.Sync(); err != nil {
			c.failCommit(r, "sync", err)
		} else if err := r.w.f.Close(); err != nil {
			c.failCommit(r, "close", err)
		}
	}
	dirs := c.renameCommits(reqs)
	c.recordCommits(reqs, dirs)
	c.evict()
	c.updateGauges()
	for _, r := range reqs {
		r.result <- r.err
	}
	return len(reqs)
}

// failCommit drops the file of r, which failed at step.
func (c *Cache) failCommit(r *commitReq, step string, err error) {
	r.w.f.Close()
	os.Remove(r.w.tmp)
	c.diskFailed(err)
	r.err = fmt.Errorf("commit %s: %s: %w: %w", r.w.key, step, cache.ErrStorage, err)
}

// renameCommits moves the synced files into place, then syncs each of
// their folders once. It returns each folder's outcome.
func (c *Cache) renameCommits(reqs []*commitReq) map[string]error {
	dirs := make(map[string]error)
	newDirs := false
	for _, r := range reqs {
		if r.err != nil {
			continue
		}
		r.final = c.narPath(r.w.key)
		dir := filepath.Dir(r.final)
		if _, seen := dirs[dir]; !seen {
			if _, err := os.Stat(dir); err != nil {
				newDirs = true
			}
			dirs[dir] = os.MkdirAll(dir, 0o755)
		}
		if err := dirs[dir]; err != nil {
			c.failCommit(r, "mkdir", err)
			continue
		}
		if err := r.w.moveTo(r.final); err != nil {
			c.failCommit(r, "rename", err)
			continue
		}
	}
	for dir, err := range dirs {
		if err == nil {
			dirs[dir] = syncDir(dir)
		}
	}
	if newDirs {
		// A new folder is durable once the folder holding it is synced.
		if err := syncDir(c.narDir); err != nil {
			for dir := range dirs {
				dirs[dir] = err
			}
		}
	}
	return dirs
}

// recordCommits records the files whose folder synced, and drops the others.
func (c *Cache) recordCommits(reqs []*commitReq, dirs map[string]error) {
	now := time.Now().UnixNano()
	for _, r := range reqs {
		if r.err != nil {
			continue
		}
		if err := dirs[filepath.Dir(r.final)]; err != nil {
			os.Remove(r.final) // never there without its entry
			c.failCommit(r, "sync folder", err)
			continue
		}
		w := r.w
		w.committed = true
		c.mu.Lock()
		if old := c.files[w.key]; old != nil {
			c.total -= old.size
		}
		c.files[w.key] = &fileEntry{size: w.n, atime: now}
		c.total += w.n
		c.mu.Unlock()
		c.diskRecovered()
		if err := c.putNarFile(w.key, fileEntry{size: w.n, atime: now}); err != nil {
			// The file is in place; reconcile at the next open removes it.
			r.err = fmt.Errorf("commit %s: index: %w: %w", w.key, cache.ErrStorage, err)
		}
	}
}

// moveTo renames the temp file to final, where followers open it from then.
func (w *Writer) moveTo(final string) error {
	w.pathMu.Lock()
	defer w.pathMu.Unlock()
	if err := os.Rename(w.tmp, final); err != nil {
		return err
	}
	w.path = final
	return nil
}

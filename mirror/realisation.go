package mirror

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sync"
	"time"

	"github.com/private-nix-cache/private-nix-cache/internal/flight"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// maxRealisationBytes bounds the realisations kept in memory: ~10,000 of
// the usual 300-600 bytes. They are not stored on disk: one small request
// fetches one again after a restart.
const maxRealisationBytes = 4 << 20

// realisations are the verified realisations served lately, as the bytes
// served, and the fetches in progress.
type realisations struct {
	fetches *flight.Group[string, []byte] // by id

	mu    sync.Mutex
	lru   *list.List // of *realisationEntry, most recent first
	byID  map[string]*list.Element
	bytes int
}

type realisationEntry struct {
	id   string
	body []byte
}

func newRealisations(timeout time.Duration) *realisations {
	return &realisations{
		fetches: flight.New[string, []byte](timeout),
		lru:     list.New(),
		byID:    make(map[string]*list.Element),
	}
}

func (c *realisations) get(id string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*realisationEntry).body, true
}

func (c *realisations) put(id string, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[id]; ok {
		c.bytes -= len(el.Value.(*realisationEntry).body)
		c.lru.Remove(el)
	}
	c.byID[id] = c.lru.PushFront(&realisationEntry{id: id, body: body})
	c.bytes += len(body)
	for c.bytes > maxRealisationBytes {
		old := c.lru.Remove(c.lru.Back()).(*realisationEntry)
		delete(c.byID, old.id)
		c.bytes -= len(old.body)
	}
}

// Realisation returns the .doi file of the realisation id (Nix's
// ca-derivations) as served here: one an upstream served, signed by a key
// it is trusted with (see upstream.Set.Realisation), with our signatures
// added when re-signing. Its out path must be one the mirror serves, so
// that a client that takes the realisation finds the path too; otherwise
// it is a miss and the client builds. Every failure is
// fs.ErrNotExist-wrapped; misses are not remembered. The bytes are
// shared: do not modify them.
func (m *Mirror) Realisation(ctx context.Context, id string) ([]byte, error) {
	if !narinfo.ValidRealisationID(id) {
		return nil, fmt.Errorf("realisation %q: %w", id, fs.ErrNotExist)
	}
	if body, ok := m.realisations.get(id); ok {
		return body, nil
	}
	body, err := m.realisations.fetches.Do(ctx, id, func(fctx context.Context) ([]byte, error) {
		return m.fetchRealisation(fctx, id)
	})
	if errors.Is(err, flight.ErrLeft) {
		return nil, fmt.Errorf("realisation %s: %w: %w", id, fs.ErrNotExist, context.Cause(ctx))
	}
	return body, err
}

func (m *Mirror) fetchRealisation(ctx context.Context, id string) ([]byte, error) {
	if m.ups == nil {
		return nil, fmt.Errorf("realisation %s: %w (no upstreams)", id, fs.ErrNotExist)
	}
	found, err := m.ups.Realisation(ctx, id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	} else if err != nil {
		return nil, &notExistError{err}
	}
	r := found.Realisation
	// Nix asks for the out path's narinfo next: looking it up now also
	// has it cached by then.
	e, _, err := m.narInfoEntry(ctx, r.OutPath[:32])
	if err != nil {
		m.log.Info("realisation refused: its out path cannot be served", "id", id, "out_path", r.OutPath,
			"upstream", found.Upstream.Name(), "err", err)
		return nil, fmt.Errorf("realisation %s: out path %s: %w", id, r.OutPath, err)
	}
	if got := path.Base(e.NarInfo.StorePath); got != r.OutPath {
		m.log.Warn("realisation refused: its out path's hash names another path", "id", id, "out_path", r.OutPath,
			"narinfo_path", e.NarInfo.StorePath, "upstream", found.Upstream.Name())
		return nil, fmt.Errorf("realisation %s: out path %s, narinfo of %s: %w", id, r.OutPath, got, fs.ErrNotExist)
	}
	if len(m.keys) > 0 {
		if err := r.Sign(m.keys...); err != nil {
			return nil, err
		}
	}
	body, err := r.Bytes()
	if err != nil {
		return nil, err
	}
	m.realisations.put(id, body)
	return body, nil
}

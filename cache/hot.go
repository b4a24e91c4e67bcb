package cache

import (
	"container/list"
	"sync"
	"time"
)

// hotNarInfos is a small LRU of parsed narinfos in front of the index, so
// that hits for popular paths touch neither bbolt nor the parser.
type hotNarInfos struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recent; values are *hotItem
	items map[string]*list.Element
	// gen counts the changes made by writers (put, remove): a read-through
	// fill that began before one may hold what it replaced.
	gen uint64
}

type hotItem struct {
	hashPart string
	entry    *NarInfoEntry
	touched  int64 // last access handed to the index, UnixNano
}

// touchEvery is how stale a remembered access time may grow: eviction
// needs no finer clock, and a hit that need not record one takes no
// other lock than the LRU's.
const touchEvery = int64(time.Minute)

func newHotNarInfos(max int) *hotNarInfos {
	return &hotNarInfos{max: max, order: list.New(), items: make(map[string]*list.Element)}
}

// get returns the entry of hashPart, and whether its access at now is to
// be recorded; on a miss, it returns the generation to fill with (see fill).
func (h *hotNarInfos) get(hashPart string, now int64) (e *NarInfoEntry, gen uint64, touch bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	el, ok := h.items[hashPart]
	if !ok {
		return nil, h.gen, false
	}
	h.order.MoveToFront(el)
	it := el.Value.(*hotItem)
	if now-it.touched >= touchEvery {
		it.touched, touch = now, true
	}
	return it.entry, 0, touch
}

// put stores the entry a writer has just made visible in the index.
func (h *hotNarInfos) put(hashPart string, e *NarInfoEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	if el, ok := h.items[hashPart]; ok {
		el.Value.(*hotItem).entry = e
		h.order.MoveToFront(el)
		return
	}
	h.insertLocked(hashPart, e)
}

// fill stores an entry read from the index, unless one is there already
// or a writer changed anything since gen: what was read may be stale.
func (h *hotNarInfos) fill(hashPart string, e *NarInfoEntry, gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gen != gen {
		return
	}
	if _, ok := h.items[hashPart]; ok {
		return
	}
	h.insertLocked(hashPart, e)
}

func (h *hotNarInfos) insertLocked(hashPart string, e *NarInfoEntry) {
	h.items[hashPart] = h.order.PushFront(&hotItem{hashPart: hashPart, entry: e})
	for h.order.Len() > h.max {
		last := h.order.Back()
		h.order.Remove(last)
		delete(h.items, last.Value.(*hotItem).hashPart)
	}
}

// remove forgets an entry a writer has just deleted from the index.
func (h *hotNarInfos) remove(hashPart string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	if el, ok := h.items[hashPart]; ok {
		h.order.Remove(el)
		delete(h.items, hashPart)
	}
}

package disk

import (
	"container/list"
	"sync"
	"time"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// hotNarInfos is a small LRU of parsed narinfos in front of the index, so
// that hits for popular paths touch neither bbolt nor the parser. It is
// bounded by count and by estimated bytes.
type hotNarInfos struct {
	mu       sync.Mutex
	max      int
	maxBytes int64
	bytes    int64      // estimated size of the entries held
	order    *list.List // front = most recent; values are *hotItem
	items    map[string]*list.Element
	// gen counts the changes made by writers (put, remove): a read-through
	// fill that began before one may hold what it replaced.
	gen uint64
}

type hotItem struct {
	hashPart string
	entry    *cache.NarInfoEntry
	size     int64 // entrySize(entry)
	touched  int64 // last access handed to the index, UnixNano
}

// hotItemOverhead is a rough size of what every entry costs besides its
// strings: the list element, map slot, structs and slice headers.
const hotItemOverhead = 512

// entrySize estimates the memory an entry holds: its served bytes plus the
// parsed fields, which are copies of about the same text.
func entrySize(e *cache.NarInfoEntry) int64 {
	n := hotItemOverhead + len(e.Raw) + len(e.Key) + len(e.Upstream) + len(e.UpstreamURL) + len(e.UpstreamKey)
	if ni := e.NarInfo; ni != nil {
		n += len(ni.StorePath) + len(ni.URL) + len(ni.Compression) + len(ni.Deriver) + len(ni.System) + len(ni.CA)
		for _, r := range ni.References {
			n += len(r) + 16 // string header
		}
		for _, s := range ni.Sigs {
			n += len(s) + 16
		}
	}
	return int64(n)
}

// touchEvery is how stale a remembered access time may grow: eviction
// needs no finer clock, and a hit that need not record one takes no
// other lock than the LRU's.
const touchEvery = int64(time.Minute)

func newHotNarInfos(max int, maxBytes int64) *hotNarInfos {
	return &hotNarInfos{max: max, maxBytes: maxBytes, order: list.New(), items: make(map[string]*list.Element)}
}

// get returns the entry of hashPart, and whether its access at now is to
// be recorded; on a miss, it returns the generation to fill with (see fill).
func (h *hotNarInfos) get(hashPart string, now int64) (e *cache.NarInfoEntry, gen uint64, touch bool) {
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
func (h *hotNarInfos) put(hashPart string, e *cache.NarInfoEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	if el, ok := h.items[hashPart]; ok {
		h.removeLocked(el)
	}
	h.insertLocked(hashPart, e)
}

// fill stores an entry read from the index, unless one is there already
// or a writer changed anything since gen: what was read may be stale.
func (h *hotNarInfos) fill(hashPart string, e *cache.NarInfoEntry, gen uint64) {
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

// insertLocked adds an entry in front, then drops the least recently used
// ones while over either bound. An entry larger than the byte bound on its
// own is not kept at all.
func (h *hotNarInfos) insertLocked(hashPart string, e *cache.NarInfoEntry) {
	size := entrySize(e)
	if size > h.maxBytes {
		return
	}
	h.items[hashPart] = h.order.PushFront(&hotItem{hashPart: hashPart, entry: e, size: size})
	h.bytes += size
	for h.order.Len() > h.max || h.bytes > h.maxBytes {
		h.removeLocked(h.order.Back())
	}
}

func (h *hotNarInfos) removeLocked(el *list.Element) {
	it := el.Value.(*hotItem)
	h.order.Remove(el)
	delete(h.items, it.hashPart)
	h.bytes -= it.size
}

// remove forgets an entry a writer has just deleted from the index.
func (h *hotNarInfos) remove(hashPart string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	if el, ok := h.items[hashPart]; ok {
		h.removeLocked(el)
	}
}

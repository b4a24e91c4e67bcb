package cache

import (
	"container/list"
	"sync"
)

// hotNarInfos is a small LRU of parsed narinfos in front of the index, so
// that hits for popular paths touch neither bbolt nor the parser.
type hotNarInfos struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recent; values are *hotItem
	items map[string]*list.Element
}

type hotItem struct {
	hashPart string
	entry    *NarInfoEntry
}

func newHotNarInfos(max int) *hotNarInfos {
	return &hotNarInfos{max: max, order: list.New(), items: make(map[string]*list.Element)}
}

func (h *hotNarInfos) get(hashPart string) *NarInfoEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	el, ok := h.items[hashPart]
	if !ok {
		return nil
	}
	h.order.MoveToFront(el)
	return el.Value.(*hotItem).entry
}

func (h *hotNarInfos) put(hashPart string, e *NarInfoEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if el, ok := h.items[hashPart]; ok {
		el.Value.(*hotItem).entry = e
		h.order.MoveToFront(el)
		return
	}
	h.items[hashPart] = h.order.PushFront(&hotItem{hashPart, e})
	for h.order.Len() > h.max {
		last := h.order.Back()
		h.order.Remove(last)
		delete(h.items, last.Value.(*hotItem).hashPart)
	}
}

func (h *hotNarInfos) remove(hashPart string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if el, ok := h.items[hashPart]; ok {
		h.order.Remove(el)
		delete(h.items, hashPart)
	}
}

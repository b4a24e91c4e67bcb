package disk

import (
	"fmt"
	"strings"
	"testing"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// hotEntry is an entry of about size bytes (its Raw text).
func hotEntry(i, size int) *cache.NarInfoEntry {
	return &cache.NarInfoEntry{
		NarInfo: &narinfo.NarInfo{StorePath: fmt.Sprintf("/nix/store/%032d-p", i)},
		Raw:     []byte(strings.Repeat("x", size)),
	}
}

func TestHotNarInfosByteBound(t *testing.T) {
	const maxBytes = 100_000
	h := newHotNarInfos(1000, maxBytes)
	for i := range 100 {
		h.put(fmt.Sprint(i), hotEntry(i, 10_000))
	}
	if h.bytes > maxBytes {
		t.Errorf("holding %d bytes, over the bound %d", h.bytes, maxBytes)
	}
	if n := h.order.Len(); n == 0 || n >= 10 {
		t.Errorf("holding %d entries of ~10 kB under a 100 kB bound", n)
	}
	// The most recent stay, the oldest went.
	if e, _, _ := h.get("99", 0); e == nil {
		t.Error("the newest entry was evicted")
	}
	if e, _, _ := h.get("0", 0); e != nil {
		t.Error("the oldest entry is still held")
	}

	// An entry over the bound by itself is not kept, and drops what it replaces.
	h.put("99", hotEntry(99, 2*maxBytes))
	if e, _, _ := h.get("99", 0); e != nil {
		t.Error("an entry larger than the bound is held")
	}

	// The accounting follows replacements and removals.
	var sum int64
	for el := h.order.Front(); el != nil; el = el.Next() {
		sum += entrySize(el.Value.(*hotItem).entry)
	}
	if sum != h.bytes {
		t.Errorf("accounted %d bytes, entries hold %d", h.bytes, sum)
	}
	for el := h.order.Front(); el != nil; {
		next := el.Next()
		h.remove(el.Value.(*hotItem).hashPart)
		el = next
	}
	if h.bytes != 0 || len(h.items) != 0 {
		t.Errorf("after removing all: %d bytes, %d items", h.bytes, len(h.items))
	}

	// Small entries are still bounded by count.
	h = newHotNarInfos(10, maxBytes)
	for i := range 50 {
		h.put(fmt.Sprint(i), hotEntry(i, 10))
	}
	if n := h.order.Len(); n != 10 {
		t.Errorf("holding %d small entries, want the count bound 10", n)
	}
}

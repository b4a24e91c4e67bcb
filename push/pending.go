package push

import (
	"container/list"
	"sync"
	"time"
)

// received is what was measured of one NAR file as it arrived.
type received struct {
	name        string
	compression string
	fileHash    []byte // sha256 of the file as uploaded
	fileSize    uint64
	narHash     []byte // sha256 of the NAR, decompressed
	narSize     uint64
	expires     time.Time
}

// pendingNARs remembers received NARs until their narinfo comes, bounded
// in time and number: oldest first out.
type pendingNARs struct {
	ttl time.Duration
	max int

	mu     sync.Mutex
	byName map[string]*list.Element // of *received
	order  *list.List               // oldest first
	active map[string]bool          // names being received now
}

func newPendingNARs(ttl time.Duration, max int) *pendingNARs {
	return &pendingNARs{ttl: ttl, max: max, byName: make(map[string]*list.Element),
		order: list.New(), active: make(map[string]bool)}
}

func (p *pendingNARs) get(name string) (received, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expireLocked(time.Now())
	e, ok := p.byName[name]
	if !ok {
		return received{}, false
	}
	return *e.Value.(*received), true
}

func (p *pendingNARs) put(r received) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.expireLocked(now)
	if e, ok := p.byName[r.name]; ok {
		p.order.Remove(e)
	}
	for p.order.Len() >= p.max {
		p.removeLocked(p.order.Front())
	}
	r.expires = now.Add(p.ttl)
	p.byName[r.name] = p.order.PushBack(&r)
}

func (p *pendingNARs) expireLocked(now time.Time) {
	for e := p.order.Front(); e != nil && !now.Before(e.Value.(*received).expires); e = p.order.Front() {
		p.removeLocked(e)
	}
}

func (p *pendingNARs) removeLocked(e *list.Element) {
	p.order.Remove(e)
	delete(p.byName, e.Value.(*received).name)
}

// begin marks name as being received; false when it already is.
func (p *pendingNARs) begin(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.active[name] {
		return false
	}
	p.active[name] = true
	return true
}

func (p *pendingNARs) end(name string) {
	p.mu.Lock()
	delete(p.active, name)
	p.mu.Unlock()
}

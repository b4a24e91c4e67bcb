package disk

import (
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// Index writes that no client waits for. Narinfos, negative entries and
// the entries of committed NAR files are metadata: they take effect in
// memory at once (reads look at the pending changes before the index) and
// a background writer stores whatever has accumulated in one bbolt
// transaction. A crash loses at most the last batch, which only costs a
// fetch again: a narinfo or a negative entry is asked for again, and a NAR
// file without its entry is removed at the next Open.

// maxPending bounds the narinfo and negative entry changes waiting to be
// written; past it, lookups wait for the index to catch up. NAR file
// entries never wait: the disk goroutine makes them itself, and there are
// no more of them than files committed or evicted.
const maxPending = 10000

// metaChange is the pending change of one hash part.
type metaChange struct {
	seq         uint64
	narInfo     *cache.NarInfoEntry // stored narinfo, when put
	record      []byte              // its index record
	putAt       []byte              // its first read, for narinfo-atime: when it was put
	delNarInfo  bool
	negative    []byte // negative entry expiry to put
	delNegative bool
	// dropOf holds evicted NAR file keys: the narinfo in the index is
	// deleted if it names one of them. A later put or delete clears it.
	dropOf []string
}

// narChange is the pending change of one NAR file entry.
type narChange struct {
	seq    uint64
	record []byte // nil: delete
}

type pendingIndex struct {
	mu      sync.Mutex
	seq     uint64
	meta    map[string]metaChange // by hash part
	nars    map[string]narChange  // by NAR file key
	commits []*commitReq          // files waiting for their commit (commit.go)
	wake    chan struct{}         // buffered(1): there is something to write
	hurry   chan struct{}         // buffered(1): someone waits, or a batch is full
	room    chan struct{}         // closed and replaced after each batch
	closing chan struct{}         // closed when Close begins: no more gathering
	stop    chan struct{}         // closed by Close: write everything and return
	exited  chan struct{}
	closed  bool
}

func newPendingIndex() *pendingIndex {
	return &pendingIndex{
		meta:    make(map[string]metaChange),
		nars:    make(map[string]narChange),
		wake:    make(chan struct{}, 1),
		hurry:   make(chan struct{}, 1),
		room:    make(chan struct{}),
		closing: make(chan struct{}),
		stop:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
}

// waitRoomLocked waits, with p.mu held, until fewer than maxPending
// metadata changes wait. It returns false once the cache is closed.
func (p *pendingIndex) waitRoomLocked() bool {
	for !p.closed && len(p.meta) >= maxPending {
		room := p.room
		p.mu.Unlock()
		<-room
		p.mu.Lock()
	}
	return !p.closed
}

func (p *pendingIndex) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// signalUrgent wakes the writer and cuts its wait for more work short.
func (p *pendingIndex) signalUrgent() {
	select {
	case p.hurry <- struct{}{}:
	default:
	}
	p.signal()
}

// fullLocked reports whether a whole batch waits.
func (p *pendingIndex) fullLocked() bool {
	return len(p.meta)+len(p.nars)+len(p.commits) >= maxBatch
}

// unlockAndSignal releases p.mu after a change and wakes the writer: at
// once when a whole batch waits.
func (p *pendingIndex) unlockAndSignal() {
	full := p.fullLocked()
	p.mu.Unlock()
	if full {
		p.signalUrgent()
	} else {
		p.signal()
	}
}

// changeMeta applies change to the pending change of hashPart.
func (p *pendingIndex) changeMeta(hashPart string, change func(*metaChange)) error {
	p.mu.Lock()
	if !p.waitRoomLocked() {
		p.mu.Unlock()
		return fmt.Errorf("%w: cache closed", cache.ErrStorage)
	}
	m := p.meta[hashPart]
	change(&m)
	p.seq++
	m.seq = p.seq
	p.meta[hashPart] = m
	p.unlockAndSignal()
	return nil
}

// changeNar sets the pending entry of a NAR file (nil record: delete).
func (p *pendingIndex) changeNar(key string, record []byte) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("%w: cache closed", cache.ErrStorage)
	}
	p.seq++
	p.nars[key] = narChange{seq: p.seq, record: record}
	p.unlockAndSignal()
	return nil
}

// dropNarInfosOf drops the narinfos of evicted NAR files, given as hash
// part → file keys. Merged into the pending change of each hash part, a
// drop deletes only what was stored before it: a narinfo put afterwards
// replaces it, as any later change does. Like changeNar, it never waits for
// room: the disk goroutine evicts, and there are no more drops than files.
func (p *pendingIndex) dropNarInfosOf(keys map[string][]string) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("%w: cache closed", cache.ErrStorage)
	}
	for hashPart, ks := range keys {
		m := p.meta[hashPart]
		switch {
		case m.narInfo != nil:
			if !slices.Contains(ks, m.narInfo.Key) {
				continue // it names another file, and replaces what the index holds
			}
			m.narInfo, m.record, m.delNarInfo, m.dropOf = nil, nil, true, nil
		case m.delNarInfo:
			continue
		default:
			// A new slice: the writer may hold a copy of the old one.
			m.dropOf = append(slices.Clip(m.dropOf), ks...)
		}
		p.seq++
		m.seq = p.seq
		p.meta[hashPart] = m
	}
	p.unlockAndSignal()
	return nil
}

// lookupMeta returns the pending change of hashPart, if any.
func (p *pendingIndex) lookupMeta(hashPart string) (metaChange, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.meta[hashPart]
	return m, ok
}

// maxBatch bounds the changes of one transaction.
const maxBatch = 2000

// diskLoop commits files and writes pending index changes until Close,
// then does what is left. Work gathers for CommitDelay before each round:
// a round costs a few fsyncs whatever its size, and fsyncs slow every
// other writer of the disk (the Nix store being filled from here too).
func (c *Cache) diskLoop() {
	p := c.pending
	defer close(p.exited)
	drain := func() {
		for c.commitFiles()+c.writePending() > 0 {
		}
	}
	for {
		select {
		case <-p.wake:
		case <-p.stop:
			drain()
			return
		}
		t := time.NewTimer(c.opts.CommitDelay)
		select {
		case <-t.C:
		case <-p.hurry:
		case <-p.closing: // fills finishing for Close wait for their commit
		}
		t.Stop()
		for c.commitFiles()+c.writePending() >= maxBatch {
		}
	}
}

// writePending writes one batch of pending changes in one transaction and
// returns how many it took. Changes made meanwhile stay pending.
func (c *Cache) writePending() int {
	meta, nars := c.pending.takeBatch()
	n := len(meta) + len(nars)
	if n == 0 {
		return 0
	}
	err := c.db.Update(func(tx *bolt.Tx) error {
		mb, nb := metaBucketsOf(tx), tx.Bucket(bucketNar)
		for k, m := range meta {
			if err := writeMeta(mb, []byte(k), m); err != nil {
				return err
			}
		}
		for k, n := range nars {
			if err := putOrDelete(nb, []byte(k), n.record); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Dropped: like a crash, it costs fetches again, and reconcile
		// removes files whose entry was lost.
		c.diskFailed(err)
		c.log.Warn("write cache index; changes dropped", "changes", n, "err", err)
	}
	c.pending.written(meta, nars)
	return n
}

// takeBatch copies up to maxBatch pending changes, metadata first.
func (p *pendingIndex) takeBatch() (map[string]metaChange, map[string]narChange) {
	p.mu.Lock()
	defer p.mu.Unlock()
	meta := make(map[string]metaChange, min(len(p.meta), maxBatch))
	for k, m := range p.meta {
		if len(meta) >= maxBatch {
			break
		}
		meta[k] = m
	}
	nars := make(map[string]narChange, min(len(p.nars), maxBatch))
	for k, n := range p.nars {
		if len(meta)+len(nars) >= maxBatch {
			break
		}
		nars[k] = n
	}
	return meta, nars
}

// written forgets the changes of a batch that were not changed again
// meanwhile, and wakes whoever waits for room.
func (p *pendingIndex) written(meta map[string]metaChange, nars map[string]narChange) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, m := range meta {
		if p.meta[k].seq == m.seq {
			delete(p.meta, k)
		}
	}
	for k, nc := range nars {
		if p.nars[k].seq == nc.seq {
			delete(p.nars, k)
		}
	}
	close(p.room)
	p.room = make(chan struct{})
}

// metaBuckets are the buckets a metadata change writes.
type metaBuckets struct {
	narInfo, atime, negative, expiry *bolt.Bucket
}

func metaBucketsOf(tx *bolt.Tx) metaBuckets {
	return metaBuckets{tx.Bucket(bucketNarInfo), tx.Bucket(bucketNarInfoAtime),
		tx.Bucket(bucketNegative), tx.Bucket(bucketNegativeExpiry)}
}

// deleteNarInfo deletes a narinfo record and its last read.
func (b metaBuckets) deleteNarInfo(key []byte) error {
	if err := b.narInfo.Delete(key); err != nil {
		return err
	}
	return b.atime.Delete(key)
}

// writeMeta writes the change of one hash part to the narinfo and
// negative buckets.
func writeMeta(b metaBuckets, key []byte, m metaChange) error {
	switch {
	case m.record != nil:
		if err := b.narInfo.Put(key, m.record); err != nil {
			return err
		}
		if err := b.atime.Put(key, m.putAt); err != nil {
			return err
		}
	case m.delNarInfo:
		if err := b.deleteNarInfo(key); err != nil {
			return err
		}
	case m.dropOf != nil:
		if v := b.narInfo.Get(key); v != nil && slices.Contains(m.dropOf, recordKey(v)) {
			if err := b.deleteNarInfo(key); err != nil {
				return err
			}
		}
	}
	switch {
	case m.negative != nil:
		return putNegativeEntry(b.negative, b.expiry, key, m.negative)
	case m.delNegative:
		return deleteNegativeEntry(b.negative, b.expiry, key)
	}
	return nil
}

// putOrDelete puts v under key, or deletes key when v is nil.
func putOrDelete(b *bolt.Bucket, key, v []byte) error {
	if v == nil {
		return b.Delete(key)
	}
	return b.Put(key, v)
}

// closePending writes every pending change and stops the writer. Changes
// asked for afterwards fail with cache.ErrStorage.
func (c *Cache) closePending() {
	p := c.pending
	p.mu.Lock()
	p.closed = true
	close(p.room) // writers waiting for room give up
	p.room = make(chan struct{})
	p.mu.Unlock()
	close(p.stop)
	<-p.exited
}

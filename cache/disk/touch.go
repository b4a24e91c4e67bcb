package disk

import (
	"maps"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Last reads. A read records its time in memory (a touchSet); every
// FlushInterval the times are written to the index, touchBatch at most
// per transaction. A narinfo's last read lives apart from its record, in
// narinfo-atime (hash part → 8-byte unix nanos), so that moving it never
// rewrites the record; a NAR file's is inside its record, of 17 bytes.

// maxTouches bounds each set of last reads waiting to be written. Past it
// the reads of keys not in the set yet are not recorded: a narinfo whose
// read is lost may be swept as inactive up to that long after the read
// before (30 days after its last recorded read instead of its last read);
// a NAR file's only weighs on eviction after a restart, the running cache
// keeping every file's exact time in memory. At 5s between writes the set
// holds 10,000 distinct reads a second before any is lost.
const maxTouches = 50000

// touchBatch bounds the last reads one transaction writes.
const touchBatch = 10000

// narInfoTouchSlack is how far a narinfo's stored last read may lag: a
// read less than that after the stored one writes nothing. The sweep
// counts in days.
const narInfoTouchSlack = int64(time.Hour)

// touchSet is a bounded set of last reads by key.
type touchSet struct {
	mu      sync.Mutex
	max     int
	m       map[string]int64
	dropped uint64 // reads not recorded, the set being full
}

func newTouchSet(max int) *touchSet {
	return &touchSet{max: max, m: make(map[string]int64)}
}

// add records a read of key at at: it moves a pending read forward, or
// adds one if there is room.
func (s *touchSet) add(key string, at int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[key]; ok {
		s.m[key] = max(old, at)
		return
	}
	if len(s.m) >= s.max {
		s.dropped++
		return
	}
	s.m[key] = at
}

// get returns the pending read of key, if any.
func (s *touchSet) get(key string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.m[key]
	return at, ok
}

func (s *touchSet) forget(key string) {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

func (s *touchSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// take returns the pending reads and starts a new set.
func (s *touchSet) take() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.m
	if len(m) == 0 {
		return nil // s.m stays the set's own
	}
	s.m = make(map[string]int64, min(len(m), s.max))
	return m
}

func (c *Cache) touchNarInfo(hashPart string, now int64) {
	c.touchedNI.add(hashPart, now)
}

// flushTouches writes the pending last reads to the index.
func (c *Cache) flushTouches() error {
	if err := writeTouches(c.db, c.touchedNar.take(), narTouch); err != nil {
		return err
	}
	return writeTouches(c.db, c.touchedNI.take(), narInfoTouch)
}

// touchWriter says what a read at at changes in the index: the bucket
// and value to put, or nil when nothing (gone meanwhile, or recent enough).
type touchWriter func(tx *bolt.Tx, key []byte, at int64) (*bolt.Bucket, []byte)

func narTouch(tx *bolt.Tx, key []byte, at int64) (*bolt.Bucket, []byte) {
	b := tx.Bucket(bucketNar)
	r, ok := decodeNarRecord(b.Get(key))
	if !ok || r.Atime >= at {
		return nil, nil // evicted meanwhile, or older
	}
	r.Atime = at
	return b, r.encode()
}

func narInfoTouch(tx *bolt.Tx, key []byte, at int64) (*bolt.Bucket, []byte) {
	b := tx.Bucket(bucketNarInfoAtime)
	old, ok := decodeTime(b.Get(key))
	if !ok && tx.Bucket(bucketNarInfo).Get(key) == nil {
		return nil, nil // deleted meanwhile, or not written yet (with its time)
	}
	if ok && old+narInfoTouchSlack > at {
		return nil, nil
	}
	return b, encodeTime(at)
}

// writeTouches writes touches with w, in key order: it reads which need a
// write, then writes those, touchBatch per transaction.
func writeTouches(db *bolt.DB, touches map[string]int64, w touchWriter) error {
	if len(touches) == 0 {
		return nil
	}
	var keys []string
	err := db.View(func(tx *bolt.Tx) error {
		for _, k := range slices.Sorted(maps.Keys(touches)) {
			if b, _ := w(tx, []byte(k), touches[k]); b != nil {
				keys = append(keys, k)
			}
		}
		return nil
	})
	for err == nil && len(keys) > 0 {
		batch := keys[:min(len(keys), touchBatch)]
		keys = keys[len(batch):]
		err = db.Update(func(tx *bolt.Tx) error {
			for _, k := range batch {
				// Again: it may have changed since the read.
				if b, v := w(tx, []byte(k), touches[k]); b != nil {
					if err := b.Put([]byte(k), v); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	return err
}

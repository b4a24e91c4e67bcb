package disk

import (
	"bytes"
	"fmt"
	"io/fs"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// NarInfo returns the stored narinfo for a hash part, or fs.ErrNotExist.
func (c *Cache) NarInfo(hashPart string) (*cache.NarInfoEntry, error) {
	now := time.Now().UnixNano()
	// gen is taken before any read: a writer that changes the entry
	// meanwhile keeps this read's result out of the LRU.
	e, gen, touch := c.hot.get(hashPart, now)
	if e != nil {
		if touch {
			c.touchNarInfo(hashPart, now)
		}
		c.m.narInfoHits.Inc()
		return e, nil
	}
	m, pending := c.pending.lookupMeta(hashPart)
	if pending && (m.narInfo != nil || m.delNarInfo) {
		if m.narInfo == nil {
			c.m.narInfoMisses.Inc()
			return nil, fmt.Errorf("narinfo %s: %w", hashPart, fs.ErrNotExist)
		}
		if c.opts.testHookNarInfoRead != nil {
			c.opts.testHookNarInfoRead(hashPart)
		}
		c.hot.fill(hashPart, m.narInfo, gen)
		c.m.narInfoHits.Inc()
		return m.narInfo, nil
	}
	e, err := c.readNarInfo(hashPart)
	if err != nil {
		return nil, err
	}
	if e == nil || slices.Contains(m.dropOf, e.Key) { // its NAR file was evicted
		c.m.narInfoMisses.Inc()
		return nil, fmt.Errorf("narinfo %s: %w", hashPart, fs.ErrNotExist)
	}
	if c.opts.testHookNarInfoRead != nil {
		c.opts.testHookNarInfoRead(hashPart)
	}
	c.hot.fill(hashPart, e, gen)
	c.touchNarInfo(hashPart, now)
	c.m.narInfoHits.Inc()
	return e, nil
}

// readNarInfo reads the narinfo of hashPart from the index, nil if none:
// one record, copied out of the transaction at once, and one parse.
func (c *Cache) readNarInfo(hashPart string) (*cache.NarInfoEntry, error) {
	var v []byte
	err := c.db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucketNarInfo).Get([]byte(hashPart)))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read narinfo %s from index: %w", hashPart, err)
	}
	if v == nil {
		return nil, nil
	}
	rec, err := decodeNarInfoRecord(v)
	if err != nil {
		return nil, fmt.Errorf("read narinfo %s from index: %w", hashPart, err)
	}
	ni, err := narinfo.ParseBytes(rec.NarInfo)
	if err != nil {
		return nil, fmt.Errorf("stored narinfo %s: %w", hashPart, err)
	}
	return &cache.NarInfoEntry{NarInfo: ni, Raw: rec.NarInfo, Key: rec.Key, Upstream: rec.Upstream,
		UpstreamURL: rec.UpstreamURL, UpstreamKey: rec.UpstreamKey}, nil
}

// PutNarInfo stores a narinfo under its hash part, replacing any previous
// one and clearing a negative entry. e.NarInfo must not be modified after.
// It is served at once; the index is written in the background (see
// pending.go), so an error means only that the cache is closed. It is
// dropped when its NAR file (named by NarKey) is evicted, or when it is not
// read for 30 days while its NAR file is not stored.
func (c *Cache) PutNarInfo(e cache.NarInfoEntry) error {
	if e.NarInfo == nil || !validKey(e.Key) {
		return fmt.Errorf("put narinfo: invalid entry (key %q)", e.Key)
	}
	hashPart := e.NarInfo.HashPart()
	e.Raw = e.NarInfo.Bytes()
	rec := narInfoRecord{NarInfo: e.Raw, Key: e.Key, FileSize: e.NarInfo.FileSize,
		Upstream: e.Upstream, UpstreamURL: e.UpstreamURL, UpstreamKey: e.UpstreamKey}
	v, putAt := rec.encode(), encodeTime(time.Now().UnixNano())
	err := c.pending.changeMeta(hashPart, func(m *metaChange) {
		m.narInfo, m.record, m.putAt, m.delNarInfo, m.dropOf = &e, v, putAt, false, nil
		m.negative, m.delNegative = nil, true
	})
	if err != nil {
		return fmt.Errorf("put narinfo %s: %w", hashPart, err)
	}
	// After the change is visible: a read-through fill that missed it is
	// then refused (see hotNarInfos.fill).
	c.hot.put(hashPart, &e)
	return nil
}

// DeleteNarInfo forgets the narinfo of a hash part (its NAR file, shared by
// key, is left to eviction).
func (c *Cache) DeleteNarInfo(hashPart string) error {
	c.hot.remove(hashPart)
	m, pending := c.pending.lookupMeta(hashPart)
	present := pending && m.narInfo != nil
	if !present && !(pending && m.delNarInfo) {
		_ = c.db.View(func(tx *bolt.Tx) error {
			present = tx.Bucket(bucketNarInfo).Get([]byte(hashPart)) != nil
			return nil
		})
	}
	if !present {
		return nil // no write for the common case
	}
	err := c.pending.changeMeta(hashPart, func(m *metaChange) {
		m.narInfo, m.record, m.delNarInfo, m.dropOf = nil, nil, true, nil
	})
	if err != nil {
		return fmt.Errorf("delete narinfo %s: %w", hashPart, err)
	}
	c.hot.remove(hashPart) // again once visible, as in PutNarInfo
	return nil
}

// Negative reports whether a live negative entry exists for a hash part.
func (c *Cache) Negative(hashPart string) bool {
	var exp time.Time
	var ok bool
	if m, found := c.pending.lookupMeta(hashPart); found && (m.negative != nil || m.delNegative) {
		exp, ok = decodeExpiry(m.negative)
	} else {
		_ = c.db.View(func(tx *bolt.Tx) error {
			exp, ok = decodeExpiry(tx.Bucket(bucketNegative).Get([]byte(hashPart)))
			return nil
		})
	}
	if ok && time.Now().Before(exp) {
		c.m.hits.WithLabelValues("negative").Inc()
		return true
	}
	c.m.misses.WithLabelValues("negative").Inc()
	return false
}

// PutNegative records that no upstream has hashPart, for NegativeTTL. It
// takes effect at once; the index is written in the background.
func (c *Cache) PutNegative(hashPart string) error {
	v := encodeExpiry(time.Now().Add(c.opts.NegativeTTL))
	err := c.pending.changeMeta(hashPart, func(m *metaChange) {
		m.negative, m.delNegative = v, false
	})
	if err != nil {
		return fmt.Errorf("put negative entry %s: %w", hashPart, err)
	}
	return nil
}

package fill

import (
	"crypto/sha256"
	"errors"
	"io"

	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// ReencodeStored makes, in the background, the copy spec.Reencode asks
// for of the committed file key, checked against spec's NarHash and
// NarSize as a fill's is: for files stored before their copy was asked
// for (an older cache, a crash between the two commits). It does nothing
// when the copy is stored or being made. It runs in a ready check slot,
// as the check of a finished download does.
func (c *Cache) ReencodeStored(key string, spec *FillSpec) {
	re := spec.Reencode
	if re == nil || !validKey(key) {
		return
	}
	c.mu.Lock()
	c.reencodingMu.Lock()
	if c.reencoding[re.Key] || c.fills[re.Key] != nil || c.closed || len(c.reencoding) >= 1000 {
		c.reencodingMu.Unlock()
		c.mu.Unlock()
		return
	}
	c.reencoding[re.Key] = true
	c.wg.Add(1)
	c.reencodingMu.Unlock()
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer func() {
			c.reencodingMu.Lock()
			delete(c.reencoding, re.Key)
			c.reencodingMu.Unlock()
		}()
		c.reencodeStored(key, spec)
	}()
}

func (c *Cache) reencodeStored(key string, spec *FillSpec) {
	release, err := c.checks.acquireReady(c.ctx)
	if err != nil {
		return
	}
	defer release()
	if _, ok := c.store.StoredSize(spec.Reencode.Key); ok {
		c.adoptCopy(key, spec)
		return
	}
	f, err := c.store.OpenFile(key)
	if err != nil {
		return // evicted meanwhile
	}
	defer f.Close()
	r := c.newReencoder(key, spec)
	err = verifyNarTo(spec, f, r.sink())
	r.finish(err)
	if errors.Is(err, cache.ErrVerify) {
		c.log.Warn("stored nar is corrupt; removed", "key", key, "err", err)
		if derr := c.store.DeleteFile(key); derr != nil {
			c.log.Warn("remove corrupt nar file", "key", key, "err", derr)
		}
	} else if err != nil {
		c.log.Warn("re-encode stored nar", "key", key, "err", err)
	}
}

// adoptCopy takes the stored file of spec.Reencode, made before, as the
// copy of orig once it verified: its FileHash is computed as it is
// checked, Done is called, and orig is superseded. A copy that does not
// verify is removed.
func (c *Cache) adoptCopy(orig string, spec *FillSpec) {
	re := spec.Reencode
	f, err := c.store.OpenFile(re.Key)
	if err != nil {
		return
	}
	defer f.Close()
	sum := sha256.New()
	check := &FillSpec{Compression: re.Compression, NarHash: spec.NarHash, NarSize: spec.NarSize}
	err = verifyNar(check, io.TeeReader(f, sum))
	if errors.Is(err, cache.ErrVerify) {
		c.log.Warn("stored nar is corrupt; removed", "key", re.Key, "err", err)
		if derr := c.store.DeleteFile(re.Key); derr != nil {
			c.log.Warn("remove corrupt nar file", "key", re.Key, "err", derr)
		}
		return
	}
	if err != nil {
		c.log.Warn("check stored copy", "key", re.Key, "err", err)
		return
	}
	c.store.Supersede(orig)
	if re.Done != nil {
		if h, err := nixhash.NewHash(nixhash.SHA256, sum.Sum(nil)); err == nil {
			re.Done(h, uint64(f.Size()))
		}
	}
}

package fill

import (
	"crypto/sha256"
	"hash"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// Reencode asks a fill for a second file of its NAR in another
// compression, written from the bytes its NarHash check decodes: one
// decode serves both. The new file is committed only once NarHash and
// NarSize matched, and never delays the download's own readers: it is
// finished after the check reported. The original file is then
// superseded (Store.Supersede): the store may remove it once nobody read
// it for a while.
type Reencode struct {
	// Key of the new file (narinfo.NarFileKey of Compression).
	Key string
	// Compression of the new file: "zstd", or "none" for the NAR itself.
	Compression string
	// Level is the zstd level (1, the fastest, to 22); 0 means 1.
	Level int
	// Done, when set, is called once the new file is committed, with its
	// FileHash and FileSize; when a file of Key was already stored, once
	// that file verified.
	Done func(fileHash *nixhash.Hash, fileSize uint64)
}

// zstdWindow bounds the encoder's window, and so what it and a client's
// decoder hold: 1 MiB (libzstd's level 1 uses 512 KiB). On 150 MB of
// shared libraries, 4 MiB made the file 0.2% smaller for 4× the memory
// of each encoder.
const zstdWindow = 1 << 20

// reencoder writes the new file of one fill's Reencode.
type reencoder struct {
	c      *Cache
	orig   string
	re     *Reencode
	spec   *FillSpec // of orig
	exists int64     // size of the file of re.Key already stored; -1: none
	w      cache.FileWriter
	n      int64         // bytes written to w
	enc    *zstd.Encoder // nil for "none"
	sum    hash.Hash     // of the bytes written to w
	err    error         // the first write error: the new file is dropped
}

// newReencoder starts the new file of f's Reencode; nil when there is
// none or its file cannot be created (the fill goes on regardless).
func (f *fill) newReencoder() *reencoder { return f.c.newReencoder(f.key, f.spec) }

// newReencoder starts spec.Reencode, a copy of the file orig.
func (c *Cache) newReencoder(orig string, spec *FillSpec) *reencoder {
	re := spec.Reencode
	if re == nil || re.Key == orig || !validKey(re.Key) {
		return nil
	}
	r := &reencoder{c: c, orig: orig, re: re, spec: spec, exists: -1}
	if size, ok := c.store.StoredSize(re.Key); ok {
		r.exists = size
		return r
	}
	w, err := c.store.CreateFile(re.Key)
	if err != nil {
		c.log.Warn("re-encode: create file", "key", re.Key, "err", err)
		return nil
	}
	r.w, r.sum = w, sha256.New()
	if re.Compression == "zstd" {
		r.enc = getZstdEncoder(re.Level, reencodedFile{r})
	}
	return r
}

// sink is the writer the NarHash check feeds with the decoded NAR (nil:
// nothing to write).
func (r *reencoder) sink() io.Writer {
	if r == nil || r.w == nil {
		return nil
	}
	return r
}

// Write takes decoded bytes. It never fails, so that the check goes on
// whatever the new file meets; its first error drops the new file.
func (r *reencoder) Write(p []byte) (int, error) {
	if r.err == nil {
		if r.enc != nil {
			_, r.err = r.enc.Write(p)
		} else {
			r.err = r.writeFile(p)
		}
	}
	return len(p), nil
}

func (r *reencoder) writeFile(p []byte) error {
	r.sum.Write(p)
	n, err := r.w.Write(p)
	r.n += int64(n)
	return err
}

// reencodedFile is where the encoder writes.
type reencodedFile struct{ r *reencoder }

func (f reencodedFile) Write(p []byte) (int, error) {
	if err := f.r.writeFile(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// finish commits the new file if the check passed (checkErr nil) and
// every write went through, else drops it.
func (r *reencoder) finish(checkErr error) {
	if r == nil {
		return
	}
	if r.w == nil { // already stored
		if checkErr == nil {
			r.c.adoptCopy(r.orig, r.spec)
		}
		return
	}
	if r.enc != nil {
		if checkErr == nil && r.err == nil {
			r.err = r.enc.Close()
		}
		putZstdEncoder(r.re.Level, r.enc)
		r.enc = nil
	}
	if checkErr != nil || r.err != nil {
		r.w.Cancel()
		if checkErr == nil {
			r.c.log.Warn("re-encode: write file; dropped", "key", r.re.Key, "err", r.err)
		}
		return
	}
	if err := r.w.CommitBatched(r.c.ctx); err != nil {
		r.c.log.Warn("re-encode: commit file", "key", r.re.Key, "err", err)
		return
	}
	r.c.store.Supersede(r.orig)
	r.c.m.reencoded.Inc()
	r.c.log.Debug("nar re-encoded", "from", r.orig, "to", r.re.Key, "bytes", r.n)
	if r.re.Done != nil {
		fileHash, err := nixhash.NewHash(nixhash.SHA256, r.sum.Sum(nil))
		if err != nil {
			fileHash = nil
		}
		r.re.Done(fileHash, uint64(r.n))
	}
}

// zstdEncoders keeps encoders by level between NARs: a new one allocates
// its tables and window.
var zstdEncoders sync.Map // zstd.EncoderLevel → *sync.Pool

func zstdPool(level int) *sync.Pool {
	lvl := zstd.EncoderLevelFromZstd(max(level, 1))
	p, _ := zstdEncoders.LoadOrStore(lvl, &sync.Pool{})
	return p.(*sync.Pool)
}

func getZstdEncoder(level int, w io.Writer) *zstd.Encoder {
	if e, ok := zstdPool(level).Get().(*zstd.Encoder); ok {
		e.Reset(w)
		return e
	}
	// One goroutine and a modest window: its memory is bounded by the
	// check slots, one encoder per check at most.
	e, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(max(level, 1))),
		zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow))
	if err != nil {
		panic(err) // only for options out of range, which these are not
	}
	return e
}

// putZstdEncoder returns an encoder to its pool, holding no reference to
// its output.
func putZstdEncoder(level int, e *zstd.Encoder) {
	e.Reset(nil)
	zstdPool(level).Put(e)
}

// Package decompress reads NAR files in the compressions a narinfo names,
// with memory bounded whatever a file asks for. It owns the decoders the
// fill's checks, verify and uploads share; it knows nothing of where the
// bytes come from.
package decompress

import (
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// NewReader decompresses r, a file of fileSize bytes (0: unknown), as a
// narinfo's Compression says ("" is bzip2, as Nix reads it).
// Every decoder's memory is bounded whatever the input asks for: xz
// dictionaries and zstd windows are capped, gzip's window is 32 KiB and
// bzip2's blocks at most 900 kB.
func NewReader(compression string, r io.Reader, fileSize uint64) (io.ReadCloser, error) {
	switch compression {
	case "none":
		return io.NopCloser(r), nil
	case "xz":
		return xzDecoder(r, fileSize)
	case "zstd":
		return newPooledZstd(r)
	case "bzip2", "":
		return io.NopCloser(bzip2.NewReader(r)), nil
	case "gzip":
		return gzip.NewReader(r)
	}
	return nil, fmt.Errorf("cannot decompress %q", compression)
}

// zstdDecoders keeps zstd decoders between NARs: a new one allocates its
// window buffers, which costs more CPU than decoding a small NAR.
var zstdDecoders sync.Pool

// zstdMaxWindow is the largest window a zstd NAR may ask for: 128 MiB,
// what libzstd decodes by default (windowLog 27, the most of any level
// without --long), so Nix could not unpack a file beyond it either. The
// decoder allocates the window when a frame starts, so this also bounds
// what one frame header can make it allocate (512 MiB by default).
const zstdMaxWindow = 1 << 27

type pooledZstd struct {
	d *zstd.Decoder
}

func newPooledZstd(r io.Reader) (io.ReadCloser, error) {
	if d, ok := zstdDecoders.Get().(*zstd.Decoder); ok {
		if err := d.Reset(r); err != nil {
			d.Close()
			return nil, err
		}
		return &pooledZstd{d}, nil
	}
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(zstdMaxWindow))
	if err != nil {
		return nil, err
	}
	return &pooledZstd{d}, nil
}

func (p *pooledZstd) Read(b []byte) (int, error) { return p.d.Read(b) }

func (p *pooledZstd) WriteTo(w io.Writer) (int64, error) { return p.d.WriteTo(w) }

// Close returns the decoder to the pool, holding no reference to its input.
func (p *pooledZstd) Close() error {
	if p.d == nil {
		return nil
	}
	if p.d.Reset(nil) == nil {
		zstdDecoders.Put(p.d)
	} else {
		p.d.Close()
	}
	p.d = nil
	return nil
}

package disk

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto"
	_ "crypto/sha1" // hash algorithms a narinfo may name
	_ "crypto/sha256"
	_ "crypto/sha512"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/cache"
)

// decoder decompresses r, a file of fileSize bytes (0: unknown), as the
// narinfo Compression says ("" is bzip2).
// Every decoder's memory is bounded whatever the input asks for: xz
// dictionaries and zstd windows are capped, gzip's window is 32 KiB and
// bzip2's blocks at most 900 kB.
func decoder(compression string, r io.Reader, fileSize uint64) (io.ReadCloser, error) {
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

func newHash(h *nixhash.Hash) (hash.Hash, error) {
	f := crypto.Hash(h.Algo().Func())
	if !f.Available() {
		return nil, fmt.Errorf("unsupported hash algorithm %s", h.Algo())
	}
	return f.New(), nil
}

// checkDigest compares a computed digest with the wanted hash.
func checkDigest(what string, want *nixhash.Hash, got []byte) error {
	if !bytes.Equal(want.Digest(), got) {
		return fmt.Errorf("%w: %s mismatch", cache.ErrVerify, what)
	}
	return nil
}

// verifyNar decompresses the NAR file read from r and checks NarHash and
// NarSize. It reads r to its end, unless the NAR is longer than NarSize,
// which fails as soon as it shows. Only content that does not match is
// cache.ErrVerify; a failure to read r (a cancelled download, a disk error) is
// returned as it is.
func verifyNar(spec *FillSpec, r io.Reader) error { return verifyNarTo(spec, r, nil) }

// verifyNarTo is verifyNar that also writes the decompressed NAR to sink,
// when not nil, as it is hashed: whatever sink does, it must not fail.
func verifyNarTo(spec *FillSpec, r io.Reader, sink io.Writer) error {
	if spec.NarHash == nil {
		return fmt.Errorf("%w: narinfo has no NarHash", cache.ErrVerify)
	}
	h, err := newHash(spec.NarHash)
	if err != nil {
		return err
	}
	src := &sourceReader{r: r}
	d, err := decoder(spec.Compression, src, fileSize(spec))
	if src.err != nil {
		return fmt.Errorf("read NAR file: %w", src.err)
	}
	if err != nil {
		return fmt.Errorf("%w: decompress %s: %w", cache.ErrVerify, spec.Compression, err)
	}
	defer d.Close()
	var out io.Reader = d
	if spec.NarSize != 0 {
		// One byte more shows an overlong NAR without decompressing it all.
		out = io.LimitReader(d, int64(spec.NarSize)+1)
	}
	var dst io.Writer = h
	if sink != nil {
		dst = io.MultiWriter(h, sink)
	}
	n, err := io.Copy(dst, out)
	if src.err != nil {
		return fmt.Errorf("read NAR file: %w", src.err)
	}
	if err != nil {
		return fmt.Errorf("%w: decompress %s: %w", cache.ErrVerify, spec.Compression, err)
	}
	if spec.NarSize != 0 && uint64(n) != spec.NarSize {
		return fmt.Errorf("%w: NarSize is %d, got %d bytes", cache.ErrVerify, spec.NarSize, n)
	}
	if err := checkDigest("NarHash", spec.NarHash, h.Sum(nil)); err != nil {
		return err
	}
	// Read to the end so that a following reader sees the whole file.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	return nil
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

// sourceReader remembers a failure of the reader under a decoder, which
// the decoder may report as corrupt input.
type sourceReader struct {
	r   io.Reader
	err error // the first error other than io.EOF
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

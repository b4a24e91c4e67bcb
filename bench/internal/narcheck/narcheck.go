// Package narcheck checks a NAR as the Nix client does: decompress it as
// the narinfo's Compression says, then compare NarHash and NarSize.
package narcheck

import (
	"compress/bzip2"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/internal/boundedxz"
)

// ErrTransport wraps a failure to read the body itself (a cut connection):
// the bytes that arrived were not all there was, so they prove nothing.
var ErrTransport = errors.New("transport")

// ErrMismatch means the complete body does not hold the announced NAR:
// wrong bytes delivered as a success.
var ErrMismatch = errors.New("nar does not match its narinfo")

// Verify reads body to its end, decompresses it and compares the result
// with narHash and narSize. It returns the compressed bytes read. Errors
// wrap ErrTransport or ErrMismatch.
func Verify(body io.Reader, compression string, narHash *nixhash.Hash, narSize uint64) (int64, error) {
	cr := &countingReader{r: body}
	dec, closeDec, err := decoder(cr, compression)
	if err != nil {
		return 0, err
	}
	defer closeDec()
	h := sha256.New()
	n, err := io.Copy(h, dec)
	// Read the body to its end whatever the decompressor said: a server
	// that finds bad bytes cuts the response after them, and only a body
	// that arrived whole proves anything about the server.
	_, _ = io.Copy(io.Discard, cr)
	if cr.err != nil {
		return cr.n, fmt.Errorf("%w: %w", ErrTransport, cr.err)
	}
	if err != nil {
		return cr.n, fmt.Errorf("%w: decompress %s: %w", ErrMismatch, compression, err)
	}
	if uint64(n) != narSize {
		return cr.n, fmt.Errorf("%w: NAR size %d, narinfo says %d", ErrMismatch, n, narSize)
	}
	if narHash == nil {
		return cr.n, fmt.Errorf("%w: no NarHash", ErrMismatch)
	}
	got := nixhash.MustNewHash(nixhash.SHA256, h.Sum(nil))
	if got.Format(nixhash.NixBase32, true) != narHash.Format(nixhash.NixBase32, true) {
		return cr.n, fmt.Errorf("%w: NAR hash %s, narinfo says %s", ErrMismatch,
			got.Format(nixhash.NixBase32, true), narHash.Format(nixhash.NixBase32, true))
	}
	return cr.n, nil
}

func decoder(r io.Reader, compression string) (io.Reader, func(), error) {
	switch compression {
	case "none":
		return r, func() {}, nil
	case "zstd":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(1<<27))
		if err != nil {
			return nil, nil, err
		}
		return d, d.Close, nil
	case "xz":
		d, err := boundedxz.NewReader(r)
		if err != nil {
			// The header is read at once: a cut there is a transport error.
			if cr, ok := r.(*countingReader); ok && cr.err != nil {
				return nil, nil, fmt.Errorf("%w: %w", ErrTransport, cr.err)
			}
			return nil, nil, fmt.Errorf("%w: xz header: %v", ErrMismatch, err)
		}
		return d, func() {}, nil
	case "", "bzip2":
		return bzip2.NewReader(r), func() {}, nil
	}
	return nil, nil, fmt.Errorf("%w: unsupported compression %q", ErrMismatch, compression)
}

// countingReader counts bytes and remembers the first read error other than EOF.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

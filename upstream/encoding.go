package upstream

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// acceptEncoding offers the encodings decodeBody reads. Binary caches
// keep listings and logs encoded as uploaded (cache.nixos.org: br) and
// serve them so whatever the request says.
const acceptEncoding = "br, zstd, gzip"

// decodeBody decodes raw as a Content-Encoding says, into at most limit
// bytes.
func decodeBody(raw []byte, encoding string, limit int64) ([]byte, error) {
	var r io.Reader
	switch enc := strings.ToLower(strings.TrimSpace(encoding)); enc {
	case "", "identity":
		return raw, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("decode gzip: %w", err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(raw), zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(uint64(max(limit, 1<<20))))
		if err != nil {
			return nil, fmt.Errorf("decode zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(raw))
	default:
		return nil, fmt.Errorf("%w %q: %w", ErrEncoding, encoding, fs.ErrNotExist)
	}
	b, err := readLimited(r, limit)
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, errBodyTooLarge):
		return nil, fmt.Errorf("%w: over %d bytes once decoded (%s)", ErrTooLarge, limit, encoding)
	}
	return nil, fmt.Errorf("decode %s: %w", encoding, err)
}

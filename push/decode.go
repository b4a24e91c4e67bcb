package push

import (
	"compress/bzip2"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/private-nix-cache/private-nix-cache/internal/boundedxz"
)

// extensions maps the name endings Nix gives NAR files to their
// compression: nar/<file hash>.nar<ext>. Only these can be checked here.
var extensions = []struct{ ext, compression string }{
	{".nar.xz", "xz"},
	{".nar.zst", "zstd"},
	{".nar.bz2", "bzip2"},
	{".nar", "none"},
}

// compressionOf returns the compression a NAR name says, or false.
func compressionOf(name string) (string, bool) {
	for _, e := range extensions {
		if strings.HasSuffix(name, e.ext) {
			return e.compression, true
		}
	}
	return "", false
}

// ValidNARName reports whether name can name an uploaded NAR file: 3 to
// 200 characters of [a-z0-9.-], not starting with a dot (it is also a
// file name), ending in a compression that can be checked here.
func ValidNARName(name string) bool {
	if len(name) < 3 || len(name) > 200 || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '.' || b == '-') {
			return false
		}
	}
	_, ok := compressionOf(name)
	return ok
}

// zstdMaxWindow is what libzstd decodes by default (windowLog 27): a file
// asking for more could not be unpacked by Nix either.
const zstdMaxWindow = 1 << 27

// decoder decompresses r; its memory is bounded whatever r asks for (xz
// dictionaries and zstd windows are capped, bzip2 blocks are at most
// 900 kB).
func decoder(compression string, r io.Reader) (io.ReadCloser, error) {
	switch compression {
	case "none":
		return io.NopCloser(r), nil
	case "xz":
		x, err := boundedxz.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(x), nil
	case "zstd":
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case "bzip2":
		return io.NopCloser(bzip2.NewReader(r)), nil
	}
	return nil, fmt.Errorf("cannot decompress %q", compression)
}

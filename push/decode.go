package push

import (
	"io"

	"github.com/private-nix-cache/private-nix-cache/internal/decompress"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// compressionOf returns the compression a NAR name says, or false when
// it names none that can be checked here.
func compressionOf(name string) (string, bool) {
	comp, ok := narinfo.CompressionOfName(name)
	return comp, ok && narinfo.CanDecode(comp)
}

// ValidNARName reports whether name can name an uploaded NAR file: 3 to
// 200 characters of [a-z0-9.-], not starting with a dot (it is also a
// file name), ending in a compression that can be checked here.
func ValidNARName(name string) bool {
	_, ok := compressionOf(name)
	return ok && narinfo.ValidFileName(name)
}

// decoder decompresses r with the cache's decoders, whose memory is
// bounded whatever r asks for.
func decoder(compression string, r io.Reader) (io.ReadCloser, error) {
	return decompress.NewReader(compression, r, 0)
}

package fill

import (
	"io"

	"github.com/private-nix-cache/private-nix-cache/internal/narcheck"
)

// check is what spec says of the NAR file, for internal/narcheck.
func (spec *FillSpec) check() *narcheck.Spec {
	return &narcheck.Spec{Compression: spec.Compression, FileHash: spec.FileHash, FileSize: spec.FileSize,
		NarHash: spec.NarHash, NarSize: spec.NarSize}
}

// verifyNar decompresses the NAR file read from r and checks NarHash and
// NarSize (narcheck.Verify).
func verifyNar(spec *FillSpec, r io.Reader) error { return narcheck.Verify(spec.check(), r) }

// verifyNarTo is verifyNar that also writes the decompressed NAR to sink
// (narcheck.VerifyTo).
func verifyNarTo(spec *FillSpec, r io.Reader, sink io.Writer) error {
	return narcheck.VerifyTo(spec.check(), r, sink)
}

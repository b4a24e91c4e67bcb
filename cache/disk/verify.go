package disk

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // hash algorithms a narinfo may name
	_ "crypto/sha256"
	_ "crypto/sha512"
	"fmt"
	"hash"
	"io"

	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/internal/decompress"
)

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
	d, err := decompress.NewReader(spec.Compression, src, fileSize(spec))
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

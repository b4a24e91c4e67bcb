// Package narcheck checks NAR files against what a narinfo says of them:
// the hashes a narinfo may name, and the decoding of a NAR file to check
// NarHash and NarSize. It is shared by the fill (a download's check) and
// cache/disk (the offline Verify and the scrub); it knows no store, no
// download and no HTTP, and may import only narinfo, cache (its errors)
// and internal/decompress.
package narcheck

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // hash algorithms a narinfo may name
	_ "crypto/sha256"
	_ "crypto/sha512"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/internal/decompress"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// Spec is what a narinfo says of a NAR file.
type Spec struct {
	// Compression as the narinfo says ("" means bzip2).
	Compression string
	// FileHash and FileSize describe the file as stored, when known (nil,
	// 0 otherwise).
	FileHash *nixhash.Hash
	FileSize uint64
	// NarHash and NarSize describe the decompressed NAR.
	NarHash *nixhash.Hash
	NarSize uint64
}

// KnownFileSize is the size of the NAR file as the narinfo tells it
// (narinfo.KnownFileSize).
func (s *Spec) KnownFileSize() uint64 {
	return narinfo.KnownFileSize(s.Compression, s.FileSize, s.NarSize)
}

// NewHash returns a new hash of h's algorithm.
func NewHash(h *nixhash.Hash) (hash.Hash, error) {
	f := crypto.Hash(h.Algo().Func())
	if !f.Available() {
		return nil, fmt.Errorf("unsupported hash algorithm %s", h.Algo())
	}
	return f.New(), nil
}

// CheckDigest compares a computed digest with the wanted hash.
func CheckDigest(what string, want *nixhash.Hash, got []byte) error {
	if !bytes.Equal(want.Digest(), got) {
		return fmt.Errorf("%w: %s mismatch", cache.ErrVerify, what)
	}
	return nil
}

// Verify decompresses the NAR file read from r and checks NarHash and
// NarSize. It reads r to its end, unless the NAR is longer than NarSize,
// which fails as soon as it shows. Only content that does not match is
// cache.ErrVerify; a failure to read r (a cancelled download, a disk error) is
// returned as it is.
func Verify(spec *Spec, r io.Reader) error { return VerifyTo(spec, r, nil) }

// VerifyTo is Verify that also writes the decompressed NAR to sink,
// when not nil, as it is hashed: whatever sink does, it must not fail.
func VerifyTo(spec *Spec, r io.Reader, sink io.Writer) error {
	if spec.NarHash == nil {
		return fmt.Errorf("%w: narinfo has no NarHash", cache.ErrVerify)
	}
	h, err := NewHash(spec.NarHash)
	if err != nil {
		return err
	}
	src := &sourceReader{r: r}
	d, err := decompress.NewReader(spec.Compression, src, spec.KnownFileSize())
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
	if err := CheckDigest("NarHash", spec.NarHash, h.Sum(nil)); err != nil {
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

// VerifyFile checks one stored file against spec, as Verify and the scrub
// of cache/disk do: FileSize, FileHash, then NarHash and NarSize when the
// compression can be decoded. It reads r (f, or a wrapper of it) and
// returns the bytes read.
func VerifyFile(f *os.File, r io.ReadSeeker, spec *Spec) (int64, error) {
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if spec.FileSize != 0 && uint64(info.Size()) != spec.FileSize {
		return 0, fmt.Errorf("%w: FileSize is %d, file has %d bytes", cache.ErrVerify, spec.FileSize, info.Size())
	}
	if spec.FileHash != nil {
		h, err := NewHash(spec.FileHash)
		if err != nil {
			return 0, err
		}
		if _, err := io.Copy(h, r); err != nil {
			return 0, err
		}
		if err := CheckDigest("FileHash", spec.FileHash, h.Sum(nil)); err != nil {
			return info.Size(), err
		}
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
	}
	if narinfo.CanDecode(spec.Compression) && spec.NarHash != nil {
		if err := Verify(spec, r); err != nil {
			return info.Size(), err
		}
	}
	return info.Size(), nil
}

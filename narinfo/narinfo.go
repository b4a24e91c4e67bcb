// Package narinfo reads and writes the small text formats of a Nix binary
// cache: .narinfo files, nix-cache-info, signing keys and signatures.
//
// The parser is tolerant, because it reads what upstream caches serve; the
// writer is strict and emits exactly what Nix itself writes. The package does
// no I/O beyond the readers it is given and never logs.
package narinfo

import (
	"slices"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixhash"
)

// NarInfo is the metadata of one store path, as served at /<hash>.narinfo.
type NarInfo struct {
	// StorePath is the absolute store path: /nix/store/<hash>-<name>.
	StorePath string
	// URL is where the NAR is, relative to the cache root; opaque.
	URL string
	// Compression is the NAR's compression as given; "" when absent, which
	// Nix reads as bzip2.
	Compression string
	// FileHash is the hash of the compressed NAR; nil when absent.
	FileHash *nixhash.Hash
	// FileSize is the size of the compressed NAR; 0 when absent.
	FileSize uint64
	// NarHash is the hash of the uncompressed NAR; always sha256 in practice.
	NarHash *nixhash.Hash
	// NarSize is the size of the uncompressed NAR; never 0 when parsed.
	NarSize uint64
	// References are store path basenames (<hash>-<name>), as given.
	References []string
	// Deriver is the basename of the deriver; "" when absent or unknown.
	Deriver string
	// System is the platform string; "" when absent.
	System string
	// Sigs are signatures "name:base64", in order, without duplicates.
	Sigs []string
	// CA is the content address; "" when absent.
	CA string
}

// HashPart returns the 32-character hash part of StorePath, or "" when
// StorePath does not end in a valid store path basename.
func (n *NarInfo) HashPart() string {
	base := n.StorePath[strings.LastIndexByte(n.StorePath, '/')+1:]
	if len(base) < 33 || base[32] != '-' || !ValidHashPart(base[:32]) {
		return ""
	}
	return base[:32]
}

// Clone returns a deep copy of n.
func (n *NarInfo) Clone() *NarInfo {
	c := *n
	c.FileHash = cloneHash(n.FileHash)
	c.NarHash = cloneHash(n.NarHash)
	c.References = slices.Clone(n.References)
	c.Sigs = slices.Clone(n.Sigs)
	return &c
}

// String returns the narinfo text, as Bytes does.
func (n *NarInfo) String() string {
	return string(n.Bytes())
}

// UnsignedSize is the length of the values no signature covers (every
// field but StorePath, NarHash, NarSize and References, which the
// fingerprint holds): what anyone between the signer and us could pad.
func (n *NarInfo) UnsignedSize() int {
	size := len(n.URL) + len(n.Compression) + len(n.Deriver) + len(n.System) + len(n.CA)
	if n.FileHash != nil {
		size += len(FormatHash(n.FileHash))
	}
	for _, s := range n.Sigs {
		size += len(s)
	}
	return size
}

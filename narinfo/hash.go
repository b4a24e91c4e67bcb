package narinfo

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"
)

// ParseHash reads a hash in any encoding Nix accepts: <algo>:<nixbase32>,
// <algo>:<hex>, <algo>:<base64>, SRI <algo>-<base64>, or one of the three
// encodings without a prefix, which then means sha256.
func ParseHash(s string) (*nixhash.Hash, error) {
	var algo *nixhash.Algorithm
	if !strings.ContainsAny(s, ":-") {
		sha256 := nixhash.SHA256
		algo = &sha256
	}
	h, err := nixhash.ParseAny(s, algo)
	if err != nil {
		return nil, fmt.Errorf("invalid hash %q: %w", s, err)
	}
	return nixhash.NewHash(h.Algo(), h.Digest())
}

// FormatHash writes h as Nix writes it in a narinfo: <algo>:<nixbase32>.
// It returns "" for a nil or zero hash.
func FormatHash(h *nixhash.Hash) string {
	if h == nil || !knownAlgo(h.Algo()) {
		return ""
	}
	return h.Format(nixhash.NixBase32, true)
}

// HashPartLen is the length of a store path's hash part.
const HashPartLen = 32

// ValidHashPart reports whether s is a store path hash part: 32 characters
// of the nixbase32 alphabet.
func ValidHashPart(s string) bool {
	return len(s) == HashPartLen && ValidNix32(s)
}

// ValidNix32 reports whether s is non-empty and made of nixbase32 digits
// only, as hash parts and NAR hashes in URLs are.
func ValidNix32(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !nixbase32.Is(s[i]) {
			return false
		}
	}
	return true
}

func cloneHash(h *nixhash.Hash) *nixhash.Hash {
	if h == nil {
		return nil
	}
	if !knownAlgo(h.Algo()) {
		// A zero Hash cannot be rebuilt (NewHash would panic): copy it as is.
		v := *h
		return &v
	}
	c, err := nixhash.NewHash(h.Algo(), slices.Clone(h.Digest()))
	if err != nil {
		v := *h
		return &v
	}
	return c
}

// knownAlgo guards go-nix calls that panic on the zero Algorithm.
func knownAlgo(a nixhash.Algorithm) bool {
	return a >= nixhash.MD5 && a <= nixhash.SHA512
}

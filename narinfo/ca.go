package narinfo

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixhash"
)

// CheckCA checks what a narinfo's CA field says about its NAR against
// NarHash. Only "fixed:r:sha256:X" can be checked without the contents:
// the NAR of a path fixed-output and recursive by sha256 hashes to X, so
// NarHash must be X. Other forms (flat fixed outputs, text, other
// algorithms) and an empty CA pass. The signature does not cover CA, so a
// contradiction means the narinfo was altered or broken after signing.
func (n *NarInfo) CheckCA() error {
	rest, ok := strings.CutPrefix(n.CA, "fixed:r:sha256:")
	if !ok {
		return nil
	}
	want, err := ParseHash("sha256:" + rest)
	if err != nil {
		return fmt.Errorf("narinfo %s: CA %q: %w", n.StorePath, n.CA, err)
	}
	if n.NarHash == nil || n.NarHash.Algo() != nixhash.SHA256 || !bytes.Equal(n.NarHash.Digest(), want.Digest()) {
		return fmt.Errorf("narinfo %s: CA %q contradicts NarHash %s", n.StorePath, n.CA, FormatHash(n.NarHash))
	}
	return nil
}

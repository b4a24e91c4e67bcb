package narinfo

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"
)

// Fingerprint returns the text Nix signs:
//
//	1;<StorePath>;sha256:<nixbase32 NarHash>;<NarSize>;<sorted full reference paths, joined by ",">
//
// References are completed with StorePath's store directory, so stores
// other than /nix/store work too.
func (n *NarInfo) Fingerprint() (string, error) {
	dir, _, ok := splitStorePath(n.StorePath)
	switch {
	case !ok:
		return "", fmt.Errorf("narinfo: fingerprint: invalid StorePath %q", n.StorePath)
	case n.NarHash == nil:
		return "", errors.New("narinfo: fingerprint: missing NarHash")
	case n.NarHash.Algo() != nixhash.SHA256:
		return "", errors.New("narinfo: fingerprint: NarHash is not sha256")
	case n.NarSize == 0:
		return "", errors.New("narinfo: fingerprint: NarSize is 0")
	}
	refs := make([]string, 0, len(n.References))
	size := 0
	for _, r := range n.References {
		if !ValidBaseName(r) {
			return "", fmt.Errorf("narinfo: fingerprint: invalid reference %q", r)
		}
		refs = append(refs, r)
		size += len(dir) + len(r) + 2
	}
	// Nix keeps references in a set: sorted, each once.
	slices.Sort(refs)
	refs = slices.Compact(refs)

	var sb strings.Builder
	sb.Grow(100 + len(n.StorePath) + size)
	sb.WriteString("1;")
	sb.WriteString(n.StorePath)
	sb.WriteString(";")
	sb.WriteString(FormatHash(n.NarHash))
	sb.WriteString(";")
	sb.WriteString(strconv.FormatUint(n.NarSize, 10))
	sb.WriteString(";")
	for i, r := range refs {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(dir)
		sb.WriteByte('/')
		sb.WriteString(r)
	}
	return sb.String(), nil
}

// Sign signs n with each key. A signature by a key of the same name already
// in Sigs is replaced in place (and further ones of that name dropped);
// otherwise the new signature is appended.
func (n *NarInfo) Sign(keys ...signature.SecretKey) error {
	if len(keys) == 0 {
		return nil
	}
	fp, err := n.Fingerprint()
	if err != nil {
		return fmt.Errorf("narinfo: sign %s: %w", n.StorePath, err)
	}
	for _, k := range keys {
		if !usableSecretKey(k) {
			return errors.New("narinfo: sign: invalid secret key")
		}
		sig, err := k.Sign(nil, fp)
		if err != nil {
			return fmt.Errorf("narinfo: sign %s: %w", n.StorePath, err)
		}
		n.replaceSig(sig.Name, sig.String())
	}
	return nil
}

// replaceSig puts sig in place of the first signature named name, drops any
// later ones of that name, or appends it. It builds a new slice, so a NarInfo
// sharing Sigs with another (a shallow copy) does not change the other.
func (n *NarInfo) replaceSig(name, sig string) {
	prefix := name + ":"
	sigs := make([]string, 0, len(n.Sigs)+1)
	replaced := false
	for _, s := range n.Sigs {
		if !strings.HasPrefix(s, prefix) {
			sigs = append(sigs, s)
		} else if !replaced {
			sigs = append(sigs, sig)
			replaced = true
		}
	}
	if !replaced {
		sigs = append(sigs, sig)
	}
	n.Sigs = sigs
}

// Verify reports whether some signature in Sigs verifies against a key of
// the same name, as Nix checks signatures. Unparseable signatures are
// skipped; a narinfo without a valid fingerprint never verifies.
func (n *NarInfo) Verify(keys []signature.PublicKey) bool {
	if len(keys) == 0 || len(n.Sigs) == 0 {
		return false
	}
	fp, err := n.Fingerprint()
	if err != nil {
		return false
	}
	for _, s := range n.Sigs {
		sig, err := signature.ParseSignature(s)
		if err != nil {
			continue
		}
		for _, k := range keys {
			// ed25519.Verify panics on a malformed key: check the size first.
			if k.Name == sig.Name && len(k.Data) == ed25519.PublicKeySize && k.Verify(fp, sig) {
				return true
			}
		}
	}
	return false
}

// usableSecretKey reports whether k holds a name and a 64-byte key; the zero
// SecretKey would make go-nix panic.
func usableSecretKey(k signature.SecretKey) bool {
	name, data, ok := strings.Cut(k.String(), ":")
	if !ok || name == "" {
		return false
	}
	return len(data) == base64.StdEncoding.EncodedLen(ed25519.PrivateKeySize)
}

package upstreamtest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"sync"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// UntrustedKeyName names the throwaway key of the UntrustedSig fault.
const UntrustedKeyName = "untrusted.upstreamtest-1"

var throwawayKey = sync.OnceValue(func() signature.SecretKey {
	k, _, err := signature.GenerateKeypair(UntrustedKeyName, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

func rewriteNarInfo(b []byte, kind FaultKind) ([]byte, error) {
	switch kind {
	case UntrustedSig:
		ni, err := narinfo.ParseBytes(b)
		if err != nil {
			return nil, fmt.Errorf("rewrite narinfo: %w", err)
		}
		ni.Sigs = nil
		if err := ni.Sign(throwawayKey()); err != nil {
			return nil, fmt.Errorf("rewrite narinfo: %w", err)
		}
		return ni.Bytes(), nil
	case UnknownFieldsHexHashes:
		return unknownFieldsHexHashes(b)
	}
	return b, nil
}

// unknownFieldsHexHashes adds keys Nix ignores (one with ": " in its value)
// and re-encodes NarHash in hex and FileHash in base64, leaving the
// signatures valid (they cover the hash, not its spelling).
func unknownFieldsHexHashes(b []byte) ([]byte, error) {
	var out bytes.Buffer
	out.WriteString("X-Future-Field: something: new\n")
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		key, value, ok := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte(": "))
		if ok && (string(key) == "NarHash" || string(key) == "FileHash") {
			h, err := narinfo.ParseHash(string(value))
			if err != nil {
				return nil, fmt.Errorf("rewrite narinfo %s: %w", key, err)
			}
			enc := nixhash.Base16
			if string(key) == "FileHash" {
				enc = nixhash.Base64
			}
			fmt.Fprintf(&out, "%s: %s\n", key, h.Format(enc, true))
			continue
		}
		out.Write(line)
	}
	out.WriteString("Unknown: 1\n")
	return out.Bytes(), nil
}

package cache

import (
	"fmt"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"
)

// extensions maps a narinfo Compression to the file name extension of the
// NAR file. An absent Compression means bzip2 to Nix.
var extensions = map[string]string{
	"none":  "",
	"xz":    ".xz",
	"zstd":  ".zst",
	"bzip2": ".bz2",
	"":      ".bz2",
	"gzip":  ".gz",
	"br":    ".br",
	"lz4":   ".lz4",
	"lzip":  ".lzip",
}

// NarKey names the NAR file of a store path: "<storehash>-<narhash
// nix32>.nar<ext>", the ext from the compression. The same NAR compressed
// the same way gets the same key whatever the upstream.
func NarKey(storeHash string, narHash *nixhash.Hash, compression string) (string, error) {
	ext, ok := extensions[compression]
	if !ok {
		return "", fmt.Errorf("unknown compression %q", compression)
	}
	if narHash == nil || narHash.Algo() != nixhash.SHA256 {
		return "", fmt.Errorf("NarHash is not sha256")
	}
	if len(storeHash) != 32 {
		return "", fmt.Errorf("bad store hash %q", storeHash)
	}
	return storeHash + "-" + nixbase32.EncodeToString(narHash.Digest()) + ".nar" + ext, nil
}

// ParseNarKey splits a key made by NarKey. ok is false for any other name.
func ParseNarKey(key string) (storeHash string, narHash *nixhash.Hash, compression string, ok bool) {
	if len(key) < 32+1+52+4 || key[32] != '-' || !validKey(key) {
		return "", nil, "", false
	}
	storeHash = key[:32]
	if !validNix32(storeHash) {
		return "", nil, "", false
	}
	rest := key[33:]
	nix32, ext := rest[:52], rest[52:]
	if !strings.HasPrefix(ext, ".nar") || !validNix32(nix32) {
		return "", nil, "", false
	}
	ext = ext[len(".nar"):]
	found := false
	for comp, e := range extensions {
		if e == ext && comp != "" {
			compression, found = comp, true
			break
		}
	}
	if !found {
		return "", nil, "", false
	}
	digest, err := nixbase32.DecodeString(nix32)
	if err != nil {
		return "", nil, "", false
	}
	h, err := nixhash.NewHash(nixhash.SHA256, digest)
	if err != nil {
		return "", nil, "", false
	}
	return storeHash, h, compression, true
}

func validNix32(s string) bool {
	for i := 0; i < len(s); i++ {
		if !nixbase32.Is(s[i]) {
			return false
		}
	}
	return true
}

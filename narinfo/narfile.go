package narinfo

import (
	"fmt"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"
)

// This file owns the names of NAR files: what a narinfo's Compression
// means for the file, the key a mirrored NAR file is stored and served
// under, and the size a narinfo announces for the file.

// Nix32SHA256Len is the length of a sha256 digest in nixbase32, as NAR
// hashes appear in NAR file names.
const Nix32SHA256Len = 52

// compression is what this program knows of one narinfo Compression.
type compression struct {
	ext string // file name extension after ".nar"
	// decodable: a NAR file so compressed can be decompressed here to check
	// NarHash (the decoders are the fill's).
	decodable bool
}

// compressions maps a narinfo Compression to what is known of it. An
// empty or absent Compression means bzip2 to Nix.
var compressions = map[string]compression{
	"none":  {"", true},
	"xz":    {".xz", true},
	"zstd":  {".zst", true},
	"bzip2": {".bz2", true},
	"":      {".bz2", true},
	"gzip":  {".gz", true},
	"br":    {".br", false},
	"lz4":   {".lz4", false},
	"lzip":  {".lzip", false},
}

// CanDecode reports whether NAR files of this compression can be
// decompressed here to check NarHash: only those may be handed out, since
// no client may get the last byte of a NAR that was not checked.
func CanDecode(compression string) bool { return compressions[compression].decodable }

// Uncompressed reports whether a NAR file of this compression is the NAR
// itself. An empty Compression is bzip2, not uncompressed.
func Uncompressed(compression string) bool { return compression == "none" }

// KnownFileSize is the size of a NAR file as its narinfo tells it:
// FileSize, else NarSize for an uncompressed file; 0 when unknown.
func KnownFileSize(compression string, fileSize, narSize uint64) uint64 {
	if fileSize == 0 && Uncompressed(compression) {
		return narSize
	}
	return fileSize
}

// KnownFileSize is the size of the NAR file n names, 0 when unknown (see
// the function of that name).
func (n *NarInfo) KnownFileSize() uint64 {
	return KnownFileSize(n.Compression, n.FileSize, n.NarSize)
}

// NarFileKey names the NAR file of a store path:
// "<hash part>-<narhash nix32>.nar<ext>", the ext from the compression. The
// same NAR compressed the same way gets the same key whatever the upstream.
func NarFileKey(hashPart string, narHash *nixhash.Hash, compression string) (string, error) {
	c, ok := compressions[compression]
	if !ok {
		return "", fmt.Errorf("unknown compression %q", compression)
	}
	if narHash == nil || narHash.Algo() != nixhash.SHA256 {
		return "", fmt.Errorf("NarHash is not sha256")
	}
	if len(hashPart) != HashPartLen {
		return "", fmt.Errorf("bad store hash %q", hashPart)
	}
	return hashPart + "-" + nixbase32.EncodeToString(narHash.Digest()) + ".nar" + c.ext, nil
}

// ParseNarFileKey splits a key made by NarFileKey. ok is false for any
// other name. A ".bz2" key gives the compression "bzip2".
func ParseNarFileKey(key string) (hashPart string, narHash *nixhash.Hash, compression string, ok bool) {
	const h, n = HashPartLen, Nix32SHA256Len
	if len(key) < h+1+n+len(".nar") || key[h] != '-' {
		return "", nil, "", false
	}
	hashPart, nix32, ext := key[:h], key[h+1:h+1+n], key[h+1+n:]
	if !ValidHashPart(hashPart) || !ValidNix32(nix32) {
		return "", nil, "", false
	}
	ext, isNar := strings.CutPrefix(ext, ".nar")
	if !isNar {
		return "", nil, "", false
	}
	compression, ok = compressionOfExt(ext)
	if !ok {
		return "", nil, "", false
	}
	digest, err := nixbase32.DecodeString(nix32)
	if err != nil {
		return "", nil, "", false
	}
	narHash, err = nixhash.NewHash(nixhash.SHA256, digest)
	if err != nil {
		return "", nil, "", false
	}
	return hashPart, narHash, compression, true
}

// compressionOfExt returns the (non-empty) compression of a file
// extension.
func compressionOfExt(ext string) (string, bool) {
	for comp, c := range compressions {
		if c.ext == ext && comp != "" {
			return comp, true
		}
	}
	return "", false
}

// CompressionOfName returns the compression a NAR file name says by its
// ending, ".nar" followed by a compression's extension, as Nix names the
// files it uploads (nar/<file hash>.nar.xz).
func CompressionOfName(name string) (string, bool) {
	i := strings.LastIndex(name, ".nar")
	if i < 0 {
		return "", false
	}
	return compressionOfExt(name[i+len(".nar"):])
}

// ValidFileName reports whether name can name a NAR file in a store: 3 to
// 200 characters of [a-z0-9.-], not starting with a dot. It covers
// NarFileKey's names and the <filehash>.nar.<ext> names Nix gives the
// files it uploads, and nothing that could be a path: stores use names as
// file and object names.
func ValidFileName(name string) bool {
	if len(name) < 3 || len(name) > 200 || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '.' || b == '-') {
			return false
		}
	}
	return true
}

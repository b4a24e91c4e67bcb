package upstreamtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/klauspost/compress/zstd"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"
	"github.com/ulikunitz/xz"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// CachePriority is the Priority in the nix-cache-info written by WriteCache.
const CachePriority = 40

// WriteCache writes a binary cache into dir without Nix: nix-cache-info,
// and per entry of files a store path /nix/store/<hash>-<basename> holding a
// single regular file, as a NAR compressed with compression ("none", "zstd"
// or "xz") under nar/, and its narinfo signed with key. The hash part is
// derived from the name and content, so equal input gives equal paths.
// It returns the store paths, sorted. It panics on any error (test helper).
func WriteCache(dir string, key signature.SecretKey, files map[string][]byte, compression string) (paths []string) {
	paths, err := writeCache(dir, key, files, compression)
	if err != nil {
		panic(fmt.Sprintf("upstreamtest.WriteCache: %v", err))
	}
	return paths
}

func writeCache(dir string, key signature.SecretKey, files map[string][]byte, compression string) ([]string, error) {
	ext, ok := map[string]string{"none": ".nar", "zstd": ".nar.zst", "xz": ".nar.xz"}[compression]
	if !ok {
		return nil, fmt.Errorf("unknown compression %q", compression)
	}
	if err := os.MkdirAll(filepath.Join(dir, "nar"), 0o755); err != nil {
		return nil, err
	}
	ci := narinfo.CacheInfo{StoreDir: "/nix/store", WantMassQuery: true, Priority: CachePriority}
	if err := os.WriteFile(filepath.Join(dir, "nix-cache-info"), ci.Bytes(), 0o644); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var paths []string
	for _, name := range names {
		p, err := writeEntry(dir, key, name, files[name], compression, ext)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths, nil
}

func writeEntry(dir string, key signature.SecretKey, name string, content []byte, compression, ext string) (string, error) {
	if !narinfo.ValidName(name) {
		return "", fmt.Errorf("invalid store path name %q", name)
	}
	nar := RegularFileNAR(content, false)
	narSum := sha256.Sum256(nar)
	file, err := compress(nar, compression)
	if err != nil {
		return "", err
	}
	fileSum := sha256.Sum256(file)

	// An input-addressed hash part: Nix does not recompute it when substituting.
	id := sha256.Sum256(append([]byte("upstreamtest\x00"+name+"\x00"), content...))
	storePath := "/nix/store/" + nixbase32.EncodeToString(compressHash(id[:], 20)) + "-" + name

	fileHash := nixhash.MustNewHash(nixhash.SHA256, fileSum[:])
	narURL := "nar/" + nixbase32.EncodeToString(fileSum[:]) + ext
	ni := &narinfo.NarInfo{
		StorePath:   storePath,
		URL:         narURL,
		Compression: compression,
		FileHash:    fileHash,
		FileSize:    uint64(len(file)),
		NarHash:     nixhash.MustNewHash(nixhash.SHA256, narSum[:]),
		NarSize:     uint64(len(nar)),
		References:  []string{},
	}
	if err := ni.Sign(key); err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(narURL)), file, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ni.HashPart()+".narinfo"), ni.Bytes(), 0o644); err != nil {
		return "", err
	}
	return storePath, nil
}

// RegularFileNAR returns the NAR serialisation of a single regular file.
func RegularFileNAR(content []byte, executable bool) []byte {
	var b bytes.Buffer
	str := func(s []byte) {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		b.Write(n[:])
		b.Write(s)
		if pad := (8 - len(s)%8) % 8; pad > 0 {
			b.Write(make([]byte, pad))
		}
	}
	for _, s := range []string{"nix-archive-1", "(", "type", "regular"} {
		str([]byte(s))
	}
	if executable {
		str([]byte("executable"))
		str(nil)
	}
	str([]byte("contents"))
	str(content)
	str([]byte(")"))
	return b.Bytes()
}

func compress(nar []byte, compression string) ([]byte, error) {
	var b bytes.Buffer
	switch compression {
	case "none":
		return nar, nil
	case "zstd":
		w, err := zstd.NewWriter(&b, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(nar); err != nil {
			w.Close()
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case "xz":
		w, err := xz.NewWriter(&b)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(nar); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown compression %q", compression)
	}
	return b.Bytes(), nil
}

// compressHash folds a hash to size bytes by XOR, as Nix does for store path hashes.
func compressHash(h []byte, size int) []byte {
	out := make([]byte, size)
	for i, c := range h {
		out[i%size] ^= c
	}
	return out
}

// Package scale measures the disk store's index at many paths: it fills a
// fresh store with generated narinfos and small NAR files through the
// store's API, then times lookups under random reads. bench/cmd/scale runs
// it in a child process so that its memory is measured alone.
package scale

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/cache"
	"github.com/private-nix-cache/private-nix-cache/mirror"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// UpstreamKeyName names the key the generated narinfos are signed with.
const UpstreamKeyName = "bench-upstream-1"

// Generator makes the narinfos of a generated set of n store paths, the
// same ones for the same seed: path i can be made again from (seed, i)
// alone, which lets the read phase find the keys without keeping them.
type Generator struct {
	seed   uint64
	n      int
	secret signature.SecretKey
	public signature.PublicKey
}

// NewGenerator returns the generator of n paths for seed, with its
// signing key made from the seed too.
func NewGenerator(seed uint64, n int) (*Generator, error) {
	if n <= 0 {
		return nil, fmt.Errorf("scale: want a positive number of paths, got %d", n)
	}
	sec, pub, err := narinfo.GenerateKey(UpstreamKeyName, rand.NewChaCha8(seedBytes(seed)))
	if err != nil {
		return nil, err
	}
	g := &Generator{seed: seed, n: n}
	if g.secret, err = narinfo.ParseSecretKey([]byte(sec)); err != nil {
		return nil, err
	}
	if g.public, err = narinfo.ParsePublicKey(pub); err != nil {
		return nil, err
	}
	return g, nil
}

func seedBytes(seed uint64) [32]byte {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	return sha256.Sum256(b[:])
}

// PublicKey is the key the narinfos verify with.
func (g *Generator) PublicKey() signature.PublicKey { return g.public }

// N is the number of paths.
func (g *Generator) N() int { return g.n }

// rng is the random source of one aspect (what) of path i.
func (g *Generator) rng(i int, what uint64) *rand.Rand {
	return rand.New(rand.NewPCG(g.seed^what*0x9e3779b97f4a7c15, uint64(i)))
}

// HashPart is the 32-character hash part of path i.
func (g *Generator) HashPart(i int) string {
	r := g.rng(i, 1)
	var b [20]byte
	for j := 0; j < len(b); j += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[j:], w[:])
	}
	return nixbase32.EncodeToString(b[:])
}

var names = []string{"glibc", "gcc-lib", "openssl", "zlib", "bash", "coreutils", "python3", "perl",
	"systemd", "util-linux", "ncurses", "readline", "libffi", "sqlite", "curl", "nghttp2", "xz", "bzip2",
	"gmp", "mpfr", "libidn2", "libunistring", "attr", "acl", "pcre2", "expat", "libxml2", "gnutls"}

// baseName is "<hash part>-<name>-<version>" of path i.
func (g *Generator) baseName(i int) string {
	r := g.rng(i, 2)
	name := names[r.IntN(len(names))]
	version := strconv.Itoa(r.IntN(40)) + "." + strconv.Itoa(r.IntN(20)) + "." + strconv.Itoa(r.IntN(10))
	return g.HashPart(i) + "-" + name + "-" + version
}

func sha256Of(r *rand.Rand) *nixhash.Hash {
	var b [32]byte
	for j := 0; j < len(b); j += 8 {
		binary.LittleEndian.PutUint64(b[j:], r.Uint64())
	}
	h, err := nixhash.NewHash(nixhash.SHA256, b[:])
	if err != nil {
		panic(err) // a 32-byte sha256 digest is always accepted
	}
	return h
}

// Entry is the narinfo entry of path i as the mirror stores it: xz, 5 to
// 20 references to other paths of the set, the URL naming its NAR file
// key, signed once.
func (g *Generator) Entry(i int) (cache.NarInfoEntry, error) {
	r := g.rng(i, 3)
	base := g.baseName(i)
	hashPart := base[:narinfo.HashPartLen]
	// Log-uniform NAR sizes from 4 KiB to 64 MiB, xz taking a third to a fifth.
	narSize := uint64(math.Exp(math.Log(4<<10) + r.Float64()*(math.Log(64<<20)-math.Log(4<<10))))
	ni := &narinfo.NarInfo{
		StorePath:   "/nix/store/" + base,
		Compression: "xz",
		FileHash:    sha256Of(r),
		FileSize:    narSize / uint64(3+r.IntN(3)),
		NarHash:     sha256Of(r),
		NarSize:     narSize,
		Deriver:     g.HashPart(g.n+i) + base[narinfo.HashPartLen:] + ".drv",
		System:      "x86_64-linux",
	}
	refs := 5 + r.IntN(16)
	for len(ni.References) < refs {
		ref := g.baseName(r.IntN(g.n))
		if !slices.Contains(ni.References, ref) {
			ni.References = append(ni.References, ref)
		}
	}
	slices.Sort(ni.References)
	key, err := narinfo.NarFileKey(hashPart, ni.NarHash, ni.Compression)
	if err != nil {
		return cache.NarInfoEntry{}, err
	}
	ni.URL = mirror.URLPrefix + key
	if err := ni.Sign(g.secret); err != nil {
		return cache.NarInfoEntry{}, err
	}
	return cache.NarInfoEntry{
		NarInfo: ni, Raw: ni.Bytes(), Key: key, Upstream: "cache.nixos.org",
		UpstreamURL: "nar/" + nixbase32.EncodeToString(ni.FileHash.Digest()) + ".nar.xz",
	}, nil
}

// NARContent is the stored file of path i: 2 to 8 KiB of random bytes.
// The store checks no content, so it need not match the narinfo.
func (g *Generator) NARContent(i int) []byte {
	r := g.rng(i, 4)
	b := make([]byte, 2<<10+r.IntN(6<<10))
	for j := 0; j+8 <= len(b); j += 8 {
		binary.LittleEndian.PutUint64(b[j:], r.Uint64())
	}
	return b
}

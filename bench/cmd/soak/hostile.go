package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/fixture"
	"github.com/private-nix-cache/private-nix-cache/internal/hostilexz"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// hostileItems are upstream paths a hostile upstream tampered with where
// no signature covers it, kept out of the main request mix.
type hostileItems struct {
	// padded narinfos carry unknown lines, outside the signature, of up to
	// about 1 MiB: refused or served right, never wrong.
	padded []item
	// hugeDict NARs are the genuine NAR re-encoded as xz streams asking
	// for a 4 GiB dictionary each, FileHash and FileSize rewritten.
	hugeDict []item
}

// hostileCounts is how many paths of each hostile kind, how many workers
// ask for them, and how many clients read NARs at a crawl.
func hostileCounts(quick bool) (paths, workers, slowReaders int) {
	if quick {
		return 10, 4, 20
	}
	return 50, 20, 200
}

// addHostile writes the hostile paths into the upstream folder, after the
// main items were listed.
func addHostile(u *upstreamDir, tmp string, key signature.SecretKey, gen *rand.Rand, quick bool) error {
	n, _, _ := hostileCounts(quick)
	padded, err := hostileCache(filepath.Join(tmp, "hostile-padded"), key, gen, "padded", n, "zstd")
	if err != nil {
		return err
	}
	huge, err := hostileCache(filepath.Join(tmp, "hostile-xz"), key, gen, "hugedict", n, "xz")
	if err != nil {
		return err
	}
	for i, it := range padded.items {
		// From a few KiB to about 1 MiB of unknown lines.
		size := 4<<10 + (1<<20-4<<10)*i/max(n-1, 1)
		if err := padNarInfo(filepath.Join(padded.dir, it.hashPart+".narinfo"), size); err != nil {
			return err
		}
	}
	for _, it := range huge.items {
		if err := hugeDictNAR(huge.dir, it, huge.contents[it.hashPart]); err != nil {
			return err
		}
	}
	u.hostile = hostileItems{padded: padded.items, hugeDict: huge.items}
	return fixture.Union(u.dir, padded.dir, huge.dir)
}

type generatedCache struct {
	dir      string
	items    []item
	contents map[string][]byte // by hash part: the file the NAR holds
}

func hostileCache(dir string, key signature.SecretKey, gen *rand.Rand, prefix string, n int, comp string) (*generatedCache, error) {
	files := map[string][]byte{}
	byPath := map[string][]byte{}
	for i := range n {
		name := fmt.Sprintf("soak-%s-%d", prefix, i)
		files[name] = content(gen, 16<<10+gen.IntN(256<<10))
	}
	g := &generatedCache{dir: dir, contents: map[string][]byte{}}
	for _, p := range upstreamtest.WriteCache(dir, key, files, comp) {
		base := strings.TrimPrefix(p, "/nix/store/")
		byPath[base[:32]] = files[base[33:]]
	}
	for hp, c := range byPath {
		b, err := os.ReadFile(filepath.Join(dir, hp+".narinfo"))
		if err != nil {
			return nil, err
		}
		ni, err := narinfo.ParseBytes(b)
		if err != nil {
			return nil, err
		}
		g.items = append(g.items, item{hashPart: hp, narHash: ni.NarHash, narSize: ni.NarSize})
		g.contents[hp] = c
	}
	return g, nil
}

// padNarInfo appends unknown fields to a narinfo until it is about size
// bytes: its signature still verifies, as it covers none of them.
func padNarInfo(file string, size int) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	line := "X-Padding: " + strings.Repeat("p", 1000) + "\n"
	for i := 0; len(b) < size; i++ {
		b = append(b, fmt.Sprintf("X-Padding-%d: %s", i, line[len("X-Padding: "):])...)
	}
	return os.WriteFile(file, b, 0o644)
}

// hugeDictNAR replaces the path's xz file by the hostile one and rewrites
// the narinfo's FileHash and FileSize to match it.
func hugeDictNAR(dir string, it item, content []byte) error {
	niFile := filepath.Join(dir, it.hashPart+".narinfo")
	b, err := os.ReadFile(niFile)
	if err != nil {
		return err
	}
	ni, err := narinfo.ParseBytes(b)
	if err != nil {
		return err
	}
	file, err := hostilexz.HugeDict(upstreamtest.RegularFileNAR(content, false), 16, hostilexz.DictCode4GiB)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(ni.URL)), file, 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(file)
	var out bytes.Buffer
	for _, l := range strings.SplitAfter(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "FileHash: "):
			l = "FileHash: sha256:" + nixbase32.EncodeToString(sum[:]) + "\n"
		case strings.HasPrefix(l, "FileSize: "):
			l = fmt.Sprintf("FileSize: %d\n", len(file))
		}
		out.WriteString(l)
	}
	return os.WriteFile(niFile, out.Bytes(), 0o644)
}

func hostileText(quick bool) []string {
	paths, workers, slow := hostileCounts(quick)
	return []string{
		fmt.Sprintf("%d narinfos padded with unknown lines up to 1 MiB", paths),
		fmt.Sprintf("%d xz NARs asking for 4 GiB dictionaries, FileHash rewritten", paths),
		fmt.Sprintf("%d workers asking for those", workers),
		fmt.Sprintf("%d clients reading NARs at a crawl (half nothing, half a byte every 3 s)", slow),
	}
}

package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"

	"github.com/private-nix-cache/private-nix-cache/bench/internal/fixture"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// item is one store path the upstream has, as its narinfo announces it.
type item struct {
	hashPart string
	narHash  *nixhash.Hash
	narSize  uint64
}

type upstreamDir struct {
	dir       string
	publicKey string
	items     []item
	nixBuilt  int
	hostile   hostileItems
}

// prepareUpstream builds the upstream's cache folder: the Nix-built quick
// fixture (zstd and xz) when Nix is installed, plus generated single-file
// paths (zstd, xz, none; mostly small, a few of several MiB), all signed
// with one key.
func prepareUpstream(ctx context.Context, cfg settings, tmp string, logf func(string, ...any)) (*upstreamDir, error) {
	u := &upstreamDir{dir: filepath.Join(tmp, "upstream")}
	key, sources, err := upstreamKey(ctx, u, logf)
	if err != nil {
		return nil, err
	}

	start := time.Now()
	gen := rand.New(rand.NewPCG(cfg.seed, 7))
	byCompression := map[string]map[string][]byte{"zstd": {}, "xz": {}, "none": {}}
	for i := 0; i < cfg.synthetic; i++ {
		comp, size := "zstd", 1024+gen.IntN(64<<10)
		switch r := gen.Float64(); {
		case r < 0.02:
			size = 1<<20 + gen.IntN(3<<20) // a few bigger ones, where a cut hurts most
			if r < 0.01 {
				comp = "none"
			}
		case r < 0.12:
			comp = "xz"
		case r < 0.20:
			comp = "none"
		}
		byCompression[comp][fmt.Sprintf("soak-%d", i)] = content(gen, size)
	}
	for comp, files := range byCompression {
		dir := filepath.Join(tmp, "generated-"+comp)
		upstreamtest.WriteCache(dir, key, files, comp)
		sources = append(sources, dir)
	}
	if err := fixture.Union(u.dir, sources...); err != nil {
		return nil, err
	}
	logf("soak: upstream ready in %v", time.Since(start).Round(100*time.Millisecond))

	entries, err := os.ReadDir(u.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		hp, ok := strings.CutSuffix(e.Name(), ".narinfo")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(u.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ni, err := narinfo.ParseBytes(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		u.items = append(u.items, item{hashPart: hp, narHash: ni.NarHash, narSize: ni.NarSize})
		if !strings.Contains(ni.StorePath, "-soak-") {
			u.nixBuilt++
		}
	}
	sort.Slice(u.items, func(i, j int) bool { return u.items[i].hashPart < u.items[j].hashPart })
	// Shuffle with the seed, so the hot set mixes kinds and sizes.
	gen.Shuffle(len(u.items), func(i, j int) { u.items[i], u.items[j] = u.items[j], u.items[i] })
	if err := addHostile(u, tmp, key, gen, cfg.quick); err != nil {
		return nil, err
	}
	return u, nil
}

// upstreamKey returns the Nix-built fixture's key and folder when Nix is
// installed, else a new key and no folder.
func upstreamKey(ctx context.Context, u *upstreamDir, logf func(string, ...any)) (signature.SecretKey, []string, error) {
	var key signature.SecretKey
	var sources []string
	if nixAvailable() {
		root, err := fixture.CacheRoot()
		if err != nil {
			return key, nil, err
		}
		fx, err := fixture.Get(ctx, root, quickFixture, logWriter{logf})
		if err != nil {
			return key, nil, err
		}
		b, err := os.ReadFile(fx.SecretKeyFile())
		if err != nil {
			return key, nil, err
		}
		if key, err = narinfo.ParseSecretKey(b); err != nil {
			return key, nil, err
		}
		u.publicKey = fx.PublicKey
		sources = append(sources, fx.Upstream())
	} else {
		logf("soak: Nix is not installed; the upstream holds generated paths only")
		sec, pub, err := narinfo.GenerateKey("soak-upstream-1", crand.Reader)
		if err != nil {
			return key, nil, err
		}
		if key, err = narinfo.ParseSecretKey([]byte(sec)); err != nil {
			return key, nil, err
		}
		u.publicKey = pub
	}
	return key, sources, nil
}

// content is half random, half repeated text: compressible, not trivially.
func content(gen *rand.Rand, size int) []byte {
	b := make([]byte, size)
	for i := 0; i < size/2; i++ {
		b[i] = byte(gen.Uint32())
	}
	copy(b[size/2:], bytes.Repeat([]byte("soak test content "), size/36+1))
	return b
}

// faults are the upstream's misbehaviours during the soak. Stalls are
// bounded, so that the run ends by itself; the long one outlasts the
// server's stall timeout (30 s) in the full run.
func faults(quick bool) []upstreamtest.Fault {
	stall, slow := 5*time.Second, 300*time.Millisecond
	if quick {
		stall, slow = 2*time.Second, 100*time.Millisecond
	}
	fs := []upstreamtest.Fault{
		{Kind: upstreamtest.ServerError, Rate: 0.02},
		{Kind: upstreamtest.NotFound, Match: ".narinfo", Rate: 0.005},
		{Kind: upstreamtest.SlowFirstByte, Delay: slow, Rate: 0.05},
		{Kind: upstreamtest.UnknownFieldsHexHashes, Match: ".narinfo", Rate: 0.05},
		{Kind: upstreamtest.UntrustedSig, Match: ".narinfo", Rate: 0.005},
		{Kind: upstreamtest.StallMidBody, Match: "/nar/", Delay: stall, Rate: 0.02},
		{Kind: upstreamtest.Truncate, Match: "/nar/", Rate: 0.02},
		{Kind: upstreamtest.Corrupt, Match: "/nar/", Rate: 0.02},
		{Kind: upstreamtest.Reset, Match: "/nar/", Rate: 0.02},
	}
	if !quick {
		fs = append(fs, upstreamtest.Fault{Kind: upstreamtest.StallMidBody, Match: "/nar/", Delay: 40 * time.Second, Rate: 0.002})
	}
	return fs
}

func addFaults(s *upstreamtest.Server, quick bool) {
	for _, f := range faults(quick) {
		s.AddFault(f)
	}
}

// logWriter turns fixture progress lines into log lines.
type logWriter struct{ logf func(string, ...any) }

func (w logWriter) Write(p []byte) (int, error) {
	w.logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

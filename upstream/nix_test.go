package upstream_test

import (
	"testing"
	"time"

	"github.com/private-nix-cache/private-nix-cache/internal/nixtest"
	"github.com/private-nix-cache/private-nix-cache/upstream"
	"github.com/private-nix-cache/private-nix-cache/upstream/upstreamtest"
)

// TestRealNixCache looks up and downloads every path of a closure that Nix
// itself exported, through the fake upstream, checking each NAR's hash.
func TestRealNixCache(t *testing.T) {
	nixtest.Require(t)
	fx := nixtest.Build(t, nixtest.Options{BigSize: 256 << 10})
	secretFile, _, publicKey := nixtest.Key(t, "real-upstream-1")
	dir := fx.ExportCache(t, "zstd", secretFile)
	srv := upstreamtest.New(t, dir)
	srv.AddFault(upstreamtest.Fault{Kind: upstreamtest.UnknownFieldsHexHashes, Match: ".narinfo", Rate: 0.5})
	s := newSet(t, []upstream.Config{{URL: srv.URL, PublicKeys: []string{publicKey}}}, upstream.Options{})
	for _, p := range fx.Paths {
		f, err := s.Lookup(ctxTimeout(t, 10*time.Second), hashPart(p))
		if err != nil {
			t.Fatalf("Lookup(%s): %v", p, err)
		}
		if f.NarInfo.StorePath != p {
			t.Fatalf("Lookup(%s) gave %s", p, f.NarInfo.StorePath)
		}
		readNAR(t, f)
	}
	// nix copy writes a nix-cache-info without a Priority: the default applies.
	if got, want := s.Upstreams()[0].Priority(), 50; got != want {
		t.Errorf("Priority() = %d, want %d", got, want)
	}
}

package scale

import (
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/mirror"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

func TestGeneratedNarInfosParseAndVerify(t *testing.T) {
	g, err := NewGenerator(7, 500)
	if err != nil {
		t.Fatal(err)
	}
	keys := []signature.PublicKey{g.PublicKey()}
	seen := map[string]bool{}
	for i := range 200 {
		e, err := g.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		ni, err := narinfo.ParseBytes(e.Raw)
		if err != nil {
			t.Fatalf("path %d: generated narinfo does not parse: %v\n%s", i, err, e.Raw)
		}
		if !ni.Verify(keys) {
			t.Errorf("path %d: signature does not verify:\n%s", i, e.Raw)
		}
		if got := len(ni.Sigs); got != 1 {
			t.Errorf("path %d: %d signatures, want 1", i, got)
		}
		if n := len(ni.References); n < 5 || n > 20 {
			t.Errorf("path %d: %d references, want 5 to 20", i, n)
		}
		hashPart := ni.HashPart()
		if hashPart != g.HashPart(i) || seen[hashPart] {
			t.Errorf("path %d: hash part %q, want %q, once", i, hashPart, g.HashPart(i))
		}
		seen[hashPart] = true
		if ni.Compression != "xz" || ni.URL != mirror.URLPrefix+e.Key {
			t.Errorf("path %d: compression %q, URL %q; want xz and the mirror's URL of %s", i, ni.Compression, ni.URL, e.Key)
		}
		if h, narHash, comp, ok := narinfo.ParseNarFileKey(e.Key); !ok || h != hashPart || comp != "xz" || narinfo.FormatHash(narHash) != narinfo.FormatHash(ni.NarHash) {
			t.Errorf("path %d: key %q is not NarFileKey's of the narinfo", i, e.Key)
		}
		if err := ni.CheckCA(); err != nil {
			t.Errorf("path %d: %v", i, err)
		}
		if n := len(g.NARContent(i)); n < 2<<10 || n > 8<<10 {
			t.Errorf("path %d: NAR of %d bytes, want 2 to 8 KiB", i, n)
		}
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	a, _ := NewGenerator(3, 100)
	b, _ := NewGenerator(3, 100)
	other, _ := NewGenerator(4, 100)
	ea, err := a.Entry(42)
	if err != nil {
		t.Fatal(err)
	}
	eb, err := b.Entry(42)
	if err != nil {
		t.Fatal(err)
	}
	if string(ea.Raw) != string(eb.Raw) {
		t.Errorf("same seed, different narinfos:\n%s\n%s", ea.Raw, eb.Raw)
	}
	if a.HashPart(42) == other.HashPart(42) {
		t.Errorf("another seed gave the same hash part %s", a.HashPart(42))
	}
	if _, err := NewGenerator(1, 0); err == nil {
		t.Errorf("a generator of no paths was made")
	}
}

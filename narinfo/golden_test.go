package narinfo

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func publicKey(t testing.TB, file string) signature.PublicKey {
	t.Helper()
	k, err := ParsePublicKey(string(readFile(t, file)))
	if err != nil {
		t.Fatalf("ParsePublicKey(%s): %v", file, err)
	}
	return k
}

func secretKey(t testing.TB, file string) signature.SecretKey {
	t.Helper()
	k, err := ParseSecretKey(readFile(t, file))
	if err != nil {
		t.Fatalf("ParseSecretKey(%s): %v", file, err)
	}
	return k
}

func TestGoldenCacheNixosOrg(t *testing.T) {
	raw := readFile(t, "cache.nixos.org-glibc.narinfo")
	n, err := ParseBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Bytes(); !bytes.Equal(got, raw) {
		t.Errorf("Bytes() =\n%s\nwant\n%s", got, raw)
	}
	if got, want := n.HashPart(), "5ka41zhii1bjss3f60rzd2npz9mxj060"; got != want {
		t.Errorf("HashPart() = %q, want %q", got, want)
	}
	fp, err := n.Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	wantFP := "1;/nix/store/5ka41zhii1bjss3f60rzd2npz9mxj060-glibc-2.27;" +
		"sha256:1wj2wa8hkb792q9qp6rck87315jldixjp7kaw1rz0r7sh09kwblx;27158944;" +
		"/nix/store/5ka41zhii1bjss3f60rzd2npz9mxj060-glibc-2.27"
	if fp != wantFP {
		t.Errorf("Fingerprint() = %q, want %q", fp, wantFP)
	}
	key := publicKey(t, "cache.nixos.org-1.pub")
	if !n.Verify([]signature.PublicKey{key}) {
		t.Error("cache.nixos.org signature does not verify")
	}
}

// The nix28 files were written by Nix 2.8 (nix store sign, then nix copy to
// file:// caches with xz and no compression, and a content-addressed copy
// signed by two keys). Nix writes signatures in sorted order.
var nix28Files = []struct {
	file string
	keys []string // key names that signed it
}{
	{"xz-leaf.narinfo", []string{"narinfo-test-1"}},
	{"xz-top.narinfo", []string{"narinfo-test-1"}},
	{"none-leaf.narinfo", []string{"narinfo-test-1"}},
	{"none-top.narinfo", []string{"narinfo-test-1"}},
	{"ca-leaf.narinfo", []string{"narinfo-test-1"}},
	{"ca-top-2sigs.narinfo", []string{"narinfo-test-1", "narinfo-test-2"}},
}

func TestGoldenNix28(t *testing.T) {
	for _, tc := range nix28Files {
		t.Run(tc.file, func(t *testing.T) {
			raw := readFile(t, "nix28/"+tc.file)
			n, err := ParseBytes(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := n.Bytes(); !bytes.Equal(got, raw) {
				t.Errorf("Bytes() =\n%q\nwant\n%q", got, raw)
			}
			var pubs []signature.PublicKey
			var secs []signature.SecretKey
			for _, name := range tc.keys {
				pub := publicKey(t, "nix28/"+name+".pub")
				if !n.Verify([]signature.PublicKey{pub}) {
					t.Errorf("signature of %s does not verify", name)
				}
				pubs = append(pubs, pub)
				secs = append(secs, secretKey(t, "nix28/"+name+".sec"))
			}

			// ed25519 is deterministic: signing again from scratch must
			// give what nix store sign wrote, byte for byte.
			c := n.Clone()
			c.Sigs = nil
			if c.Verify(pubs) {
				t.Error("Verify() true without signatures")
			}
			if err := c.Sign(secs...); err != nil {
				t.Fatal(err)
			}
			if got := c.Bytes(); !bytes.Equal(got, raw) {
				t.Errorf("after Sign, Bytes() =\n%q\nwant\n%q", got, raw)
			}
		})
	}
}

func TestGoldenNix28CacheInfo(t *testing.T) {
	raw := readFile(t, "nix28/nix-cache-info")
	got, err := ParseCacheInfo(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if want := (CacheInfo{StoreDir: "/nix/store"}); got != want {
		t.Errorf("ParseCacheInfo() = %+v, want %+v", got, want)
	}
}

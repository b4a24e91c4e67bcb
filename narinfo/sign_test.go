package narinfo

import (
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/nix-community/go-nix/pkg/nixhash"
)

func glibc(t testing.TB) *NarInfo {
	t.Helper()
	n, err := ParseBytes(readFile(t, "cache.nixos.org-glibc.narinfo"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestVerifyUnsignedFieldsMayChange(t *testing.T) {
	keys := []signature.PublicKey{publicKey(t, "cache.nixos.org-1.pub")}
	other, _ := ParseHash("sha256:0l1v2mjy9ivhn9njfz2szzh7whr0vj02cysj0xhng9mdi3zfcnpa")
	tests := []struct {
		name   string
		change func(*NarInfo)
		want   bool
	}{
		{"unchanged", func(*NarInfo) {}, true},
		{"recompressed", func(n *NarInfo) {
			n.URL, n.Compression, n.FileHash, n.FileSize = "nar/y.nar.zst", "zstd", nil, 0
		}, true},
		{"deriver and system", func(n *NarInfo) { n.Deriver, n.System = "", "x86_64-linux" }, true},
		{"references reordered with duplicate", func(n *NarInfo) {
			n.References = append(n.References, n.References[0])
		}, true},
		{"NarSize", func(n *NarInfo) { n.NarSize++ }, false},
		{"NarHash", func(n *NarInfo) { n.NarHash = other }, false},
		{"references", func(n *NarInfo) { n.References = nil }, false},
		{"StorePath", func(n *NarInfo) { n.StorePath = "/nix/store/" + refA }, false},
		{"no NarHash", func(n *NarInfo) { n.NarHash = nil }, false},
		{"garbage sig first", func(n *NarInfo) {
			n.Sigs = append([]string{"cache.nixos.org-1:garbage", "nokey"}, n.Sigs...)
		}, true},
		{"bad sig of same name first", func(n *NarInfo) {
			n.Sigs = append([]string{"cache.nixos.org-1:" + strings.Repeat("A", 86) + "=="}, n.Sigs...)
		}, true},
		{"sig renamed", func(n *NarInfo) { n.Sigs[0] = "other" + n.Sigs[0][len("cache.nixos.org"):] }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := glibc(t)
			tc.change(n)
			if got := n.Verify(keys); got != tc.want {
				t.Errorf("Verify() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVerifyKeys(t *testing.T) {
	n := glibc(t)
	good := publicKey(t, "cache.nixos.org-1.pub")
	wrong := publicKey(t, "nix28/narinfo-test-1.pub")
	renamed := wrong
	renamed.Name = good.Name
	tests := []struct {
		name string
		keys []signature.PublicKey
		want bool
	}{
		{"none", nil, false},
		{"other name", []signature.PublicKey{wrong}, false},
		{"same name, other key", []signature.PublicKey{renamed}, false},
		{"malformed key", []signature.PublicKey{{Name: good.Name, Data: []byte{1, 2}}}, false},
		{"good among others", []signature.PublicKey{wrong, renamed, good}, true},
	}
	for _, tc := range tests {
		if got := n.Verify(tc.keys); got != tc.want {
			t.Errorf("%s: Verify() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSignReplacesSameName(t *testing.T) {
	n := glibc(t)
	k1 := secretKey(t, "nix28/narinfo-test-1.sec")
	k2 := secretKey(t, "nix28/narinfo-test-2.sec")
	upstream := n.Sigs[0]
	n.Sigs = append(n.Sigs, "narinfo-test-1:stale", "narinfo-test-1:stale2", "narinfo-test-10:keep")
	shared := n.Sigs

	if err := n.Sign(k1, k2); err != nil {
		t.Fatal(err)
	}
	if err := n.Sign(k1); err != nil { // again: still one signature per name
		t.Fatal(err)
	}
	if len(n.Sigs) != 4 || n.Sigs[0] != upstream || !strings.HasPrefix(n.Sigs[1], "narinfo-test-1:") ||
		n.Sigs[2] != "narinfo-test-10:keep" || !strings.HasPrefix(n.Sigs[3], "narinfo-test-2:") {
		t.Errorf("Sigs = %q", n.Sigs)
	}
	if shared[1] != "narinfo-test-1:stale" {
		t.Errorf("Sign changed a shared Sigs slice: %q", shared)
	}
	for _, pub := range []string{"cache.nixos.org-1.pub", "nix28/narinfo-test-1.pub", "nix28/narinfo-test-2.pub"} {
		if !n.Verify([]signature.PublicKey{publicKey(t, pub)}) {
			t.Errorf("%s does not verify after Sign", pub)
		}
	}
}

func TestSignErrors(t *testing.T) {
	k := secretKey(t, "nix28/narinfo-test-1.sec")
	sha1 := nixhash.MustNewHash(nixhash.SHA1, make([]byte, 20))
	tests := []struct {
		name   string
		change func(*NarInfo)
		key    signature.SecretKey
	}{
		{"zero key", func(*NarInfo) {}, signature.SecretKey{}},
		{"no NarHash", func(n *NarInfo) { n.NarHash = nil }, k},
		{"sha1 NarHash", func(n *NarInfo) { n.NarHash = sha1 }, k},
		{"zero NarSize", func(n *NarInfo) { n.NarSize = 0 }, k},
		{"bad StorePath", func(n *NarInfo) { n.StorePath = "glibc" }, k},
		{"bad reference", func(n *NarInfo) { n.References = []string{"a,b"} }, k},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := glibc(t)
			tc.change(n)
			before := strings.Join(n.Sigs, " ")
			if err := n.Sign(tc.key); err == nil {
				t.Error("Sign() = nil, want error")
			}
			if got := strings.Join(n.Sigs, " "); got != before {
				t.Errorf("failed Sign changed Sigs to %q", got)
			}
		})
	}
}

func TestFingerprintStoreDir(t *testing.T) {
	n := &NarInfo{
		StorePath:  "/opt/store/" + refB,
		NarHash:    nixhash.MustParseNixBase32(glibcNar32),
		NarSize:    5,
		References: []string{refB, refA, refB},
	}
	got, err := n.Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	want := "1;/opt/store/" + refB + ";" + glibcNar32 + ";5;/opt/store/" + refA + ",/opt/store/" + refB
	if got != want {
		t.Errorf("Fingerprint() = %q, want %q", got, want)
	}
	n.References = nil
	got, _ = n.Fingerprint()
	if want := "1;/opt/store/" + refB + ";" + glibcNar32 + ";5;"; got != want {
		t.Errorf("Fingerprint() without references = %q, want %q", got, want)
	}
}

package narinfo

import (
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	raw := readFile(b, "cache.nixos.org-glibc.narinfo")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBytes(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBytes(b *testing.B) {
	n := glibc(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = n.Bytes()
	}
}

func BenchmarkSign(b *testing.B) {
	n := glibc(b)
	k := secretKey(b, "nix28/narinfo-test-1.sec")
	b.ReportAllocs()
	for b.Loop() {
		if err := n.Sign(k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	n := glibc(b)
	keys := []signature.PublicKey{publicKey(b, "cache.nixos.org-1.pub")}
	b.ReportAllocs()
	for b.Loop() {
		if !n.Verify(keys) {
			b.Fatal("does not verify")
		}
	}
}

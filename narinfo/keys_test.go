package narinfo

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

func TestParseSecretKey(t *testing.T) {
	raw := readFile(t, "nix28/narinfo-test-1.sec")
	pub := publicKey(t, "nix28/narinfo-test-1.pub")
	for _, in := range [][]byte{raw, append(append([]byte(" \n"), raw...), "\r\n"...)} {
		k, err := ParseSecretKey(in)
		if err != nil {
			t.Fatalf("ParseSecretKey(%q): %v", in, err)
		}
		if got := k.ToPublicKey().String(); got != pub.String() {
			t.Errorf("public key = %s, want %s", got, pub)
		}
	}

	name, data, _ := strings.Cut(string(raw), ":")
	b, _ := base64.StdEncoding.DecodeString(data)
	mismatched := bytes.Clone(b)
	mismatched[40] ^= 1
	for _, bad := range []string{
		"",
		name,
		":" + data,
		name + ":" + data[:20],
		name + ":!!!!",
		name + ":" + base64.StdEncoding.EncodeToString(mismatched),
		pub.String(),
	} {
		_, err := ParseSecretKey([]byte(bad))
		if err == nil {
			t.Errorf("ParseSecretKey(%q) = nil error", bad)
			continue
		}
		if strings.Contains(err.Error(), data[:16]) {
			t.Errorf("error leaks key material: %v", err)
		}
	}
}

func TestParsePublicKey(t *testing.T) {
	const s = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
	k, err := ParsePublicKey(" " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "cache.nixos.org-1" || len(k.Data) != ed25519.PublicKeySize || k.String() != s {
		t.Errorf("ParsePublicKey() = %v", k)
	}
	for _, bad := range []string{"", "cache.nixos.org-1", "x:AAAA", ":" + s[18:]} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) = nil error", bad)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	sec, pub, err := GenerateKey("cache.example.org-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sec, "cache.example.org-1:") || !strings.HasPrefix(pub, "cache.example.org-1:") ||
		strings.ContainsAny(sec+pub, "\n ") {
		t.Errorf("GenerateKey() = %q, %q", sec, pub)
	}
	// Same layout as nix-store --generate-binary-cache-key: 64 and 32 bytes.
	if len(sec) != len("cache.example.org-1:")+88 || len(pub) != len("cache.example.org-1:")+44 {
		t.Errorf("GenerateKey() lengths %d, %d", len(sec), len(pub))
	}
	sk, err := ParseSecretKey([]byte(sec))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	n := glibc(t)
	n.Sigs = nil
	if err := n.Sign(sk); err != nil {
		t.Fatal(err)
	}
	if !n.Verify([]signature.PublicKey{pk}) {
		t.Error("signature of a generated key does not verify")
	}
	for _, bad := range []string{"", "a:b", "a b", "a\n"} {
		if _, _, err := GenerateKey(bad, nil); err == nil {
			t.Errorf("GenerateKey(%q) = nil error", bad)
		}
	}
}

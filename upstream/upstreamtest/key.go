package upstreamtest

import (
	"crypto/rand"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// Key is a signing key pair made for a test.
type Key struct {
	Secret signature.SecretKey
	Public string // "name:base64", as trusted-public-keys lists it
}

// NewKey generates a signing key pair named name, failing t on error.
func NewKey(t testing.TB, name string) Key {
	t.Helper()
	sec, pub, err := narinfo.GenerateKey(name, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := narinfo.ParseSecretKey([]byte(sec))
	if err != nil {
		t.Fatal(err)
	}
	return Key{Secret: sk, Public: pub}
}

package narinfo

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

// ParseSecretKey reads a secret key in Nix's format, name:base64(seed ‖
// public key), as written by nix-store --generate-binary-cache-key.
// Surrounding whitespace (a trailing newline) is ignored. Errors never
// contain key material.
func ParseSecretKey(b []byte) (signature.SecretKey, error) {
	s := string(bytes.TrimSpace(b))
	name, data, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return signature.SecretKey{}, errors.New("narinfo: secret key: want name:base64")
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return signature.SecretKey{}, fmt.Errorf("narinfo: secret key %q: want %d bytes of base64", name, ed25519.PrivateKeySize)
	}
	// The second half must be the public key of the first, or every
	// signature made with it would fail to verify.
	if !bytes.Equal(ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize]), raw) {
		return signature.SecretKey{}, fmt.Errorf("narinfo: secret key %q: public half does not match the seed", name)
	}
	k, err := signature.LoadSecretKey(s)
	if err != nil {
		return signature.SecretKey{}, fmt.Errorf("narinfo: secret key %q: corrupt", name)
	}
	return k, nil
}

// ParsePublicKey reads a public key name:base64(32 bytes); surrounding
// whitespace is ignored.
func ParsePublicKey(s string) (signature.PublicKey, error) {
	k, err := signature.ParsePublicKey(strings.TrimSpace(s))
	if err != nil {
		return signature.PublicKey{}, fmt.Errorf("narinfo: %w", err)
	}
	return k, nil
}

// GenerateKey makes a key pair named name and returns both halves in the
// text format of nix-store --generate-binary-cache-key (no trailing
// newline). rand may be nil for crypto/rand.
func GenerateKey(name string, rand io.Reader) (secret, public string, err error) {
	if name == "" || strings.ContainsAny(name, ": \t\r\n") {
		return "", "", fmt.Errorf("narinfo: invalid key name %q", name)
	}
	sk, pk, err := signature.GenerateKeypair(name, rand)
	if err != nil {
		return "", "", fmt.Errorf("narinfo: generate key: %w", err)
	}
	return sk.String(), pk.String(), nil
}

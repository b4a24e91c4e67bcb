package main

import (
	"errors"
	"os"

	"github.com/private-nix-cache/private-nix-cache/config"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// refusePublicKey names the common mistake of giving the public half where
// the secret key belongs, before the permission check would blame the
// public file's (rightly) open mode.
func refusePublicKey(key, path string) error {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > 4<<10 {
		return nil // ReadSecret says what is wrong
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	if _, err := narinfo.ParsePublicKey(string(b)); err == nil {
		return &config.Error{Key: key, Err: errors.New(path + ": this is a public key; give the secret key made by keygen")}
	}
	return nil
}

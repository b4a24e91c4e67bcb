package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// keygen writes the same two files as nix-store --generate-binary-cache-key.
func keygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", "NAME SECRETFILE PUBLICFILE", stderr)
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if fs.NArg() != 3 {
		fs.Usage()
		return usageError{errors.New("keygen takes NAME SECRETFILE PUBLICFILE")}
	}
	name, secretFile, publicFile := fs.Arg(0), fs.Arg(1), fs.Arg(2)
	secret, public, err := narinfo.GenerateKey(name, rand.Reader)
	if err != nil {
		return usageError{err}
	}
	if err := writeNew(secretFile, secret, 0o600); err != nil {
		return err
	}
	if err := writeNew(publicFile, public, 0o644); err != nil {
		os.Remove(secretFile)
		return err
	}
	fmt.Fprintln(stdout, public)
	return nil
}

// writeNew refuses to overwrite: a replaced signing key silently breaks
// every host that trusts the old one.
func writeNew(path, content string, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("keygen: %w", err)
	}
	return f.Close()
}

// usageErr maps flag parsing errors: --help is not a failure.
func usageErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err}
}

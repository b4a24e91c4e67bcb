package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/private-nix-cache/private-nix-cache/config"
)

// checkConfig loads a TOML config as serve would and validates it, without
// opening any file it names: the NixOS module runs it at build time, where
// secrets and directories do not exist yet.
func checkConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check-config", "FILE", stderr)
	var file string
	fs.StringVar(&file, "config", "", "the TOML `FILE` to check (or give it as the argument)")
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	}
	if file == "" || fs.NArg() > 1 || (fs.NArg() == 1 && fs.Arg(0) != file) {
		fs.Usage()
		return usageError{errors.New("check-config takes one FILE")}
	}
	c := config.Default()
	if err := c.DecodeFile(file); err != nil {
		return usageError{err}
	}
	if err := c.Validate(); err != nil {
		return usageError{fmt.Errorf("%s: %w", file, err)}
	}
	fmt.Fprintf(stdout, "%s: ok\n", file)
	return nil
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/private-nix-cache/private-nix-cache/config"
	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// deleteCmd removes pushed paths, named as store paths or hash parts.
func deleteCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("delete", "[--cache-dir DIR | --config FILE] PATH...", stderr)
	c := config.Default()
	var file string
	fs.StringVar(&file, "config", "", "the server's TOML `FILE`, for its cache-dir")
	fs.StringVar(&c.CacheDir, "cache-dir", c.CacheDir, "`DIR` of the NAR cache (pushed paths are in DIR/pushed)")
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	dir := c.CacheDir
	if file != "" {
		if err := c.DecodeFile(file); err != nil {
			return usageError{err}
		}
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "cache-dir" })
		if !set {
			dir = c.CacheDir
		}
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("delete: name at least one store path")}
	}
	var hashParts []string
	for _, p := range fs.Args() {
		hp := filepath.Base(p)
		if len(hp) > 32 {
			hp = hp[:32]
		}
		if !narinfo.ValidHashPart(hp) {
			return usageError{fmt.Errorf("delete: %q is not a store path or hash part", p)}
		}
		hashParts = append(hashParts, hp)
	}
	if err := requireCache(pushedDir(dir)); err != nil {
		return err
	}
	names, err := deletePushed(pushedDir(dir), hashParts)
	for _, n := range names {
		fmt.Fprintln(stdout, "removed:", n)
	}
	return err
}

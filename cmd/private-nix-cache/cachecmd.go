package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dustin/go-humanize"

	"github.com/private-nix-cache/private-nix-cache/cache/disk"
	"github.com/private-nix-cache/private-nix-cache/config"
)

// cacheDirFlags parses the flags of gc and verify: the cache dir comes from
// --cache-dir, or from the server's --config file.
// A running server is reached through its admin socket (adminSockets).
func cacheDirFlags(name, args string, argv []string, stderr io.Writer, extra func(*flag.FlagSet)) (*config.Config, []string, error) {
	fs := newFlagSet(name, args, stderr)
	c := config.Default()
	var file, sock string
	fs.StringVar(&file, "config", "", "the server's TOML `FILE`, for its cache-dir and admin-socket")
	fs.StringVar(&c.CacheDir, "cache-dir", c.CacheDir, "`DIR` of the NAR cache")
	fs.StringVar(&sock, "admin-socket", "", "the running server's admin socket `PATH`; default: the link in the cache dir, or the config's")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(argv); err != nil {
		return nil, nil, usageErr(err)
	}
	if file != "" {
		dir, set := c.CacheDir, false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "cache-dir" })
		if err := c.DecodeFile(file); err != nil {
			return nil, nil, usageError{err}
		}
		if set {
			c.CacheDir = dir
		}
	}
	if err := requireCache(c.CacheDir); err != nil {
		return nil, nil, err
	}
	return &c, adminSockets(&c, sock), nil
}

// requireCache refuses a directory that holds no cache index: opening one
// would create an empty cache, and a mistyped --cache-dir would then
// "succeed" with nothing checked or freed.
func requireCache(dir string) error {
	index := filepath.Join(dir, cacheIndexFile)
	if _, err := os.Stat(index); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return usageError{fmt.Errorf("--cache-dir: %s holds no cache (no %s)", dir, cacheIndexFile)}
		}
		return usageError{fmt.Errorf("--cache-dir: %w", err)}
	}
	return nil
}

// cacheIndexFile is the index disk.Open keeps in its directory.
const cacheIndexFile = "index.db"

// gc evicts least recently used NARs down to a size, now.
func gc(args []string, stdout, stderr io.Writer) error {
	var size string
	c, socks, err := cacheDirFlags("gc", "--max-size SIZE [--cache-dir DIR | --config FILE]", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&size, "max-size", "", "evict down to this `SIZE` (e.g. 50GiB; 0 empties the cache)")
	})
	if err != nil {
		return err
	}
	if size == "" {
		size = c.MaxSize
	}
	if size == "" {
		return usageError{errors.New("--max-size: required (or max-size in --config)")}
	}
	c.MaxSize = size
	limit, err := c.MaxSizeBytes()
	if err != nil {
		return usageError{err}
	}
	var res disk.GCResult
	remote, err := viaAdmin(socks, func(ctx context.Context, sock string) (err error) {
		res, err = disk.AdminGC(ctx, sock, limit)
		return err
	})
	if !remote {
		res, err = disk.GC(c.CacheDir, limit)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed %d NARs (%s); %d left (%s)\n", res.Removed, humanize.IBytes(uint64(res.Freed)), res.Files, humanize.IBytes(uint64(res.Size)))
	return nil
}

// verify re-hashes every cached NAR; bad ones are deleted and make it exit 1.
func verify(args []string, stdout, stderr io.Writer) error {
	c, socks, err := cacheDirFlags("verify", "[--cache-dir DIR | --config FILE]", args, stderr, nil)
	if err != nil {
		return err
	}
	var rep disk.VerifyReport
	remote, err := viaAdmin(socks, func(ctx context.Context, sock string) (err error) {
		rep, err = disk.AdminVerify(ctx, sock)
		return err
	})
	if !remote {
		rep, err = disk.Verify(c.CacheDir)
	}
	if err != nil {
		return err
	}
	for _, k := range rep.Bad {
		fmt.Fprintln(stdout, "bad, removed:", k)
	}
	fmt.Fprintf(stdout, "checked %d NARs (%s): %d bad, %d unverifiable\n", rep.Checked, humanize.IBytes(uint64(rep.Bytes)), len(rep.Bad), len(rep.Unverifiable))
	if len(rep.Bad) > 0 {
		return failedError{fmt.Errorf("%d bad NARs removed", len(rep.Bad))}
	}
	return nil
}

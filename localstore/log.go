package localstore

import (
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

// OpenLog opens the build log of a derivation, given as its basename
// (<hash>-<name>.drv), decompressing bzip2 logs. Like Nix it looks in
// ROOT/nix/var/log/nix/drvs/<first 2 chars>/<rest> and then in the older
// flat layout drvs/<basename>, each plain or with .bz2. The error wraps
// fs.ErrNotExist when there is no log or the name is malformed.
func (s *Store) OpenLog(drvBasename string) (io.ReadCloser, error) {
	if !strings.HasSuffix(drvBasename, ".drv") || !narinfo.ValidBaseName(drvBasename) {
		return nil, invalid("derivation name", drvBasename)
	}
	dir := filepath.Join(s.root+"/", "nix/var/log/nix/drvs")
	for _, p := range []string{
		filepath.Join(dir, drvBasename[:2], drvBasename[2:]),
		filepath.Join(dir, drvBasename),
	} {
		if f, err := os.Open(p); err == nil {
			return f, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open build log: %w", err)
		}
		f, err := os.Open(p + ".bz2")
		if err == nil {
			return bzipReadCloser{bzip2.NewReader(f), f}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open build log: %w", err)
		}
	}
	return nil, fmt.Errorf("build log of %s: %w", drvBasename, fs.ErrNotExist)
}

type bzipReadCloser struct {
	io.Reader
	io.Closer
}

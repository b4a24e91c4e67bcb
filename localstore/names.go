package localstore

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/private-nix-cache/private-nix-cache/narinfo"
)

const storeDir = "/nix/store"

// checkStorePath accepts exactly /nix/store/<hash>-<name>.
func checkStorePath(p string) error {
	base, ok := strings.CutPrefix(p, storeDir+"/")
	if !ok || !narinfo.ValidBaseName(base) {
		return invalid("store path", p)
	}
	return nil
}

// invalid reports a malformed name as not existing: no store can hold it.
func invalid(kind, s string) error {
	return fmt.Errorf("invalid %s %q: %w", kind, s, fs.ErrNotExist)
}

package localstore

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixbase32"
)

const (
	storeDir    = "/nix/store"
	hashPartLen = 32
	// maxNameLen is Nix's limit on the name part of a store path.
	maxNameLen = 211
)

// validHashPart reports whether s is a 32-character nixbase32 hash part.
func validHashPart(s string) bool {
	if len(s) != hashPartLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !nixbase32.Is(s[i]) {
			return false
		}
	}
	return true
}

// validName reports whether s is a valid store path name: Nix's characters,
// not starting with a dot, so it can never be "." or ".." or hold a "/".
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("+-._?=", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validBaseName reports whether s is <hash>-<name>.
func validBaseName(s string) bool {
	return len(s) > hashPartLen+1 && s[hashPartLen] == '-' &&
		validHashPart(s[:hashPartLen]) && validName(s[hashPartLen+1:])
}

// checkStorePath accepts exactly /nix/store/<hash>-<name>.
func checkStorePath(p string) error {
	base, ok := strings.CutPrefix(p, storeDir+"/")
	if !ok || !validBaseName(base) {
		return invalid("store path", p)
	}
	return nil
}

// invalid reports a malformed name as not existing: no store can hold it.
func invalid(kind, s string) error {
	return fmt.Errorf("invalid %s %q: %w", kind, s, fs.ErrNotExist)
}

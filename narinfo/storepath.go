package narinfo

import (
	"path"
	"strings"
)

// maxNameLen is the longest store path name Nix accepts.
const maxNameLen = 211

// splitStorePath splits an absolute store path into its store directory and
// basename, and reports whether both are valid.
func splitStorePath(p string) (dir, base string, ok bool) {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "", "", false
	}
	dir, base = p[:i], p[i+1:]
	if dir[0] != '/' || dir == "/" || path.Clean(dir) != dir {
		return "", "", false
	}
	return dir, base, ValidBaseName(base)
}

// ValidBaseName reports whether s is a store path basename, <32-char hash>-<name> with a name Nix
// accepts.
func ValidBaseName(s string) bool {
	return len(s) > 33 && s[32] == '-' && ValidHashPart(s[:32]) && ValidName(s[33:])
}

// ValidName reports whether s is a store path or output name Nix accepts:
// its characters, at most 211 of them, not starting with a dot (so never
// "." or "..", and never holding a "/").
func ValidName(s string) bool {
	if s == "" || len(s) > maxNameLen || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !nameChar(s[i]) {
			return false
		}
	}
	return true
}

func nameChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("+-._?=", c) >= 0
}

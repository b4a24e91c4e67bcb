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
	return dir, base, validBaseName(base)
}

// validBaseName reports whether s is <32-char hash>-<name> with a name Nix
// accepts.
func validBaseName(s string) bool {
	if len(s) < 34 || s[32] != '-' || !ValidHashPart(s[:32]) {
		return false
	}
	name := s[33:]
	if len(name) > maxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !nameChar(name[i]) {
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

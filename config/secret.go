package config

import (
	"bytes"
	"fmt"
	"os"
)

// ReadSecret reads a secret file named by setting key. It refuses files that
// others can read, as ssh does, because a leaked signing key or token lets
// anyone impersonate the cache.
func ReadSecret(key, path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &Error{Key: key, Err: err}
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return nil, &Error{Key: key, Err: fmt.Errorf("%s is readable by others (chmod 600 it)", path)}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Key: key, Err: err}
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, &Error{Key: key, Err: fmt.Errorf("%s is empty", path)}
	}
	return b, nil
}

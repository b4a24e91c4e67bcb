//go:build !linux

package localstore

import (
	"errors"
	"os"
	"time"
)

// lockShared needs open file description locks, which only Linux has here;
// elsewhere the database must be readable with an ordinary connection.
func lockShared(f *os.File, deadline time.Time) error {
	return errors.New("lock nix database " + f.Name() + ": reading it without write access to its directory needs Linux")
}

func unlockShared(f *os.File) error { return nil }

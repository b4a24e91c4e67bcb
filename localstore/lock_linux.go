package localstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// SQLite's unix VFS locks byte ranges of the database file (os_unix.c):
// PENDING_BYTE at 1 GiB, then RESERVED, then the SHARED range of 510 bytes.
const (
	pendingByte = 0x40000000
	sharedFirst = pendingByte + 2
	sharedSize  = 510
)

// lockShared takes SQLite's SHARED lock on the database file f as a reader
// does: a read lock on PENDING (a writer waiting for EXCLUSIVE goes first),
// then on the SHARED range, then PENDING is released. It retries until
// deadline while a writer holds the database exclusively.
//
// The lock belongs to f's open file description: SQLite in other processes
// sees it like any POSIX lock, and SQLite's own POSIX locks in this process
// neither merge with it nor drop it. Closing f, however, would drop every
// POSIX lock this process holds on the file, SQLite's included: f must stay
// open until SQLite has closed the database, and unlockShared releases the
// lock meanwhile.
func lockShared(f *os.File, deadline time.Time) error {
	for {
		err := tryLockShared(f.Fd())
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) || time.Now().After(deadline) {
			return fmt.Errorf("lock nix database %s: %w", f.Name(), err)
		}
		time.Sleep(retryDelay)
	}
}

func tryLockShared(fd uintptr) error {
	pending := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart, Start: pendingByte, Len: 1}
	if err := unix.FcntlFlock(fd, unix.F_OFD_SETLK, &pending); err != nil {
		return err
	}
	shared := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart, Start: sharedFirst, Len: sharedSize}
	err := unix.FcntlFlock(fd, unix.F_OFD_SETLK, &shared)
	pending.Type = unix.F_UNLCK
	return errors.Join(err, unix.FcntlFlock(fd, unix.F_OFD_SETLK, &pending))
}

// unlockShared releases what lockShared took.
func unlockShared(f *os.File) error {
	all := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &all); err != nil {
		return fmt.Errorf("unlock nix database %s: %w", f.Name(), err)
	}
	return nil
}

//go:build unix

package connlimit

import (
	"fmt"
	"syscall"
)

// RaiseOpenFileLimit raises the soft limit on open files to the hard limit
// and returns the new soft limit. (Go does the same at start; the limit is
// returned so that caps can be sized from it.)
func RaiseOpenFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("get open file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return uint64(lim.Cur), fmt.Errorf("raise open file limit to %d: %w", lim.Max, err)
		}
		lim = raised
	}
	return uint64(lim.Cur), nil
}

// MaxForFileLimit is a total connection cap that leaves room, within
// nofile open files, for each connection's socket, the file it streams and
// an upstream connection, plus a reserve for the process itself.
func MaxForFileLimit(nofile uint64) int {
	const perConn, reserve, ceiling = 3, 64, 1 << 16
	if nofile <= reserve+16*perConn {
		return 16
	}
	return int(min((nofile-reserve)/perConn, ceiling))
}

//go:build !linux

package disk

// fsSpace is unknown here: no free-space floor.
func fsSpace(string) (free, total int64, ok bool) { return 0, 0, false }

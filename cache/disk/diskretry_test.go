package disk

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// After the disk refused a write, CannotStore says so (the fill streams
// without storing) until DiskRetry has passed; an error that is not the
// disk's marks nothing.
func TestDiskErrorRecovery(t *testing.T) {
	c := openTest(t, Options{DiskRetry: time.Second})
	c.diskFailed(os.NewSyscallError("write", syscall.ENOSPC))
	if why := c.CannotStore(10 << 10); why == "" {
		t.Fatal("while disk bad: CannotStore says nothing")
	}
	time.Sleep(1100 * time.Millisecond)
	if why := c.CannotStore(10 << 10); why != "" {
		t.Fatalf("after DiskRetry: CannotStore = %q", why)
	}
	commitBytes(t, c, "ab-recovered.nar", []byte("stored again"))
	c.diskFailed(errors.New("not a disk error"))
	if !c.diskUsable() {
		t.Fatal("an unrelated error marked the disk bad")
	}
}

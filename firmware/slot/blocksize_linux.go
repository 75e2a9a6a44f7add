//go:build linux

package slot

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// deviceSize asks the kernel for the size of the block device f with
// BLKGETSIZE64. The kernel writes a u64 whatever the word size, so the
// argument is a uint64 even on 32-bit ARM and MIPS. A regular file fails
// with ENOTTY.
func deviceSize(f *os.File) (int64, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		size  uint64
		errno unix.Errno
	)
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, uintptr(unix.BLKGETSIZE64), uintptr(unsafe.Pointer(&size)))
	}); err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return int64(size), nil
}

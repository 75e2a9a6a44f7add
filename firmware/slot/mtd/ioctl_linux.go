//go:build linux

package mtd

import (
	"encoding/binary"
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctl calls ioctl(fd, req, arg) on f and returns the call's result. The
// request numbers come from golang.org/x/sys/unix, which has them for each
// GOARCH (their direction bits differ on MIPS).
func ioctl(f *os.File, req uint, arg unsafe.Pointer) (uintptr, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		r1    uintptr
		errno unix.Errno
	)
	if err := rc.Control(func(fd uintptr) {
		r1, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(arg))
	}); err != nil {
		return 0, err
	}
	if errno != 0 {
		return r1, errno
	}
	return r1, nil
}

func getInfo(f *os.File) (Info, error) {
	var b [infoSize]byte
	if _, err := ioctl(f, unix.MEMGETINFO, unsafe.Pointer(&b[0])); err != nil {
		return Info{}, err
	}
	return decodeInfo(&b, binary.NativeEndian), nil
}

func erase(f *os.File, off, length int64) error {
	b64 := encodeErase64(off, length, binary.NativeEndian)
	_, err := ioctl(f, unix.MEMERASE64, unsafe.Pointer(&b64[0]))
	if !errors.Is(err, unix.ENOTTY) {
		return err
	}
	// Kernels before 2.6.31 only have the 32-bit request.
	b32, err := encodeErase32(off, length, binary.NativeEndian)
	if err != nil {
		return err
	}
	_, err = ioctl(f, unix.MEMERASE, unsafe.Pointer(&b32[0]))
	return err
}

func unlock(f *os.File, off, length int64) error {
	b, err := encodeErase32(off, length, binary.NativeEndian)
	if err != nil {
		return err
	}
	_, err = ioctl(f, unix.MEMUNLOCK, unsafe.Pointer(&b[0]))
	return err
}

func getBad(f *os.File, off int64) (bool, error) {
	loff := off
	r, err := ioctl(f, unix.MEMGETBADBLOCK, unsafe.Pointer(&loff))
	if err != nil {
		return false, err
	}
	return r != 0, nil
}

func setBad(f *os.File, off int64) error {
	loff := off
	_, err := ioctl(f, unix.MEMSETBADBLOCK, unsafe.Pointer(&loff))
	return err
}

// Package mtd reads, erases and programs raw flash partitions through the
// Linux MTD character devices (/dev/mtdN): MEMGETINFO for the geometry,
// MEMERASE64 (falling back to MEMERASE) to erase, MEMGETBADBLOCK and
// MEMSETBADBLOCK for NAND bad blocks, and pread/pwrite for data. The kernel
// interface is include/uapi/mtd/mtd-abi.h.
//
// It provides the device and nothing above it: which blocks an image or a
// boot environment goes into, and in what order, is decided by its users
// (firmware/slot, firmware/bootenv). Flash semantics they must respect:
// erasing sets every bit of an erase block to 1 (0xFF bytes), programming
// can only clear bits, and NAND is programmed in whole, aligned pages
// (Info.WriteSize), each at most once between erases.
//
// Package mtdtest has a file-backed fake with the same method set, which
// behaves like NOR or NAND, so that code written against a Device can be
// tested without flash.
//
// Only the ioctls need Linux; on other systems Open fails with an error
// wrapping errors.ErrUnsupported. A Device is safe for concurrent use to
// the degree its file descriptor is: concurrent ReadAt and WriteAt calls do
// not interfere, but erasing a block while another goroutine programs it is
// the caller's mistake.
package mtd

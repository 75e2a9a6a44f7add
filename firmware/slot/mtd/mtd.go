package mtd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Type is the kind of flash behind an MTD device, as the kernel numbers it
// (MTD_NORFLASH and friends in mtd-abi.h). It is not persisted.
type Type uint8

// The MTD types of mtd-abi.h.
const (
	Absent       Type = 0
	RAM          Type = 1
	ROM          Type = 2
	NORFlash     Type = 3
	NANDFlash    Type = 4
	DataFlash    Type = 6
	UBIVolume    Type = 7
	MLCNANDFlash Type = 8
)

// String names the type as the kernel's sysfs "type" attribute does.
func (t Type) String() string {
	switch t {
	case Absent:
		return "absent"
	case RAM:
		return "ram"
	case ROM:
		return "rom"
	case NORFlash:
		return "nor"
	case NANDFlash:
		return "nand"
	case DataFlash:
		return "dataflash"
	case UBIVolume:
		return "ubi"
	case MLCNANDFlash:
		return "mlc-nand"
	default:
		return "type-" + strconv.Itoa(int(t))
	}
}

// IsNAND reports whether the flash has bad blocks and page-wise
// programming: NAND and MLC NAND.
func (t Type) IsNAND() bool { return t == NANDFlash || t == MLCNANDFlash }

// Info is the geometry of an MTD partition (struct mtd_info_user).
type Info struct {
	Type  Type
	Flags uint32
	// Size of the partition in bytes.
	Size int64
	// EraseSize is the erase block ("sector") size in bytes.
	EraseSize int64
	// WriteSize is the smallest programmable unit: a NAND page, 1 on NOR.
	WriteSize int64
	// OOBSize is the out-of-band bytes per page (NAND); not used here.
	OOBSize int64
}

// Blocks returns the number of erase blocks in the partition.
func (i Info) Blocks() int64 {
	if i.EraseSize <= 0 {
		return 0
	}
	return i.Size / i.EraseSize
}

// Check returns an error unless the geometry is one flash code can work
// with: positive sizes, a size that is a whole number of erase blocks and
// an erase size that is a whole number of pages.
func (i Info) Check() error {
	switch {
	case i.Size <= 0 || i.EraseSize <= 0 || i.WriteSize <= 0:
		return fmt.Errorf("mtd geometry %v: sizes must be positive", i)
	case i.Size%i.EraseSize != 0:
		return fmt.Errorf("mtd geometry %v: size is not a multiple of the erase size", i)
	case i.EraseSize%i.WriteSize != 0:
		return fmt.Errorf("mtd geometry %v: erase size is not a multiple of the write size", i)
	}
	return nil
}

// String renders the geometry for messages: "nand 4MiB erase 128KiB page 2048".
func (i Info) String() string {
	return fmt.Sprintf("%s size %#x erase %#x write %#x", i.Type, i.Size, i.EraseSize, i.WriteSize)
}

// infoSize is sizeof(struct mtd_info_user): u8 type, 3 bytes padding,
// u32 flags, size, erasesize, writesize, oobsize, u64 padding.
const infoSize = 32

// decodeInfo decodes struct mtd_info_user as the kernel filled it in, in
// the CPU's byte order.
func decodeInfo(b *[infoSize]byte, order binary.ByteOrder) Info {
	return Info{
		Type:      Type(b[0]),
		Flags:     order.Uint32(b[4:]),
		Size:      int64(order.Uint32(b[8:])),
		EraseSize: int64(order.Uint32(b[12:])),
		WriteSize: int64(order.Uint32(b[16:])),
		OOBSize:   int64(order.Uint32(b[20:])),
	}
}

// encodeErase64 encodes struct erase_info_user64 {u64 start, length}.
func encodeErase64(off, length int64, order binary.ByteOrder) [16]byte {
	var b [16]byte
	order.PutUint64(b[0:], uint64(off))
	order.PutUint64(b[8:], uint64(length))
	return b
}

// encodeErase32 encodes struct erase_info_user {u32 start, length}, the
// argument of MEMERASE, MEMLOCK and MEMUNLOCK.
func encodeErase32(off, length int64, order binary.ByteOrder) ([8]byte, error) {
	var b [8]byte
	if off < 0 || length < 0 || off+length > 1<<32 {
		return b, fmt.Errorf("range %#x+%#x does not fit the 32-bit MTD erase ioctl", off, length)
	}
	order.PutUint32(b[0:], uint32(off))
	order.PutUint32(b[4:], uint32(length))
	return b, nil
}

// Device is an open MTD character device.
type Device struct {
	f    *os.File
	info Info
}

// Open opens the MTD character device at path for reading and writing and
// reads its geometry.
func Open(ctx context.Context, path string) (*Device, error) {
	return open(ctx, path, os.O_RDWR)
}

// OpenReadOnly opens the MTD character device at path for reading only.
func OpenReadOnly(ctx context.Context, path string) (*Device, error) {
	return open(ctx, path, os.O_RDONLY)
}

func open(ctx context.Context, path string, flag int) (*Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open mtd %s: %w", path, err)
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("open mtd: %w", err)
	}
	info, err := getInfo(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open mtd %s: MEMGETINFO: %w", path, err)
	}
	if err := info.Check(); err != nil {
		f.Close()
		return nil, fmt.Errorf("open mtd %s: %w", path, err)
	}
	return &Device{f: f, info: info}, nil
}

// Name returns the path the device was opened as.
func (d *Device) Name() string { return d.f.Name() }

// Info returns the geometry read when the device was opened.
func (d *Device) Info() Info { return d.info }

// ReadAt reads len(p) bytes at off. Reading a NAND page with uncorrectable
// ECC errors still returns its data; callers verify content by hash.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	n, err := d.f.ReadAt(p, off)
	if err != nil {
		return n, fmt.Errorf("read mtd %s at %#x: %w", d.f.Name(), off, err)
	}
	return n, nil
}

// WriteAt programs p at off. The range must have been erased; on NAND off
// and len(p) must be multiples of Info().WriteSize.
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	n, err := d.f.WriteAt(p, off)
	if err != nil {
		return n, fmt.Errorf("write mtd %s at %#x: %w", d.f.Name(), off, err)
	}
	return n, nil
}

// Erase erases the erase blocks in [off, off+length), which must be
// aligned to Info().EraseSize. Write-protected (locked) NOR sectors are
// unlocked first; unlocking is not supported by every chip and its failure
// is ignored, as flash_erase and fw_setenv ignore it. ctx is checked
// between blocks.
func (d *Device) Erase(ctx context.Context, off, length int64) error {
	es := d.info.EraseSize
	if off < 0 || length < 0 || off%es != 0 || length%es != 0 || off+length > d.info.Size {
		return fmt.Errorf("erase mtd %s %#x+%#x: range must be whole erase blocks of %#x inside %#x bytes",
			d.f.Name(), off, length, es, d.info.Size)
	}
	for b := off; b < off+length; b += es {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("erase mtd %s at %#x: %w", d.f.Name(), b, err)
		}
		_ = unlock(d.f, b, es)
		if err := erase(d.f, b, es); err != nil {
			return fmt.Errorf("erase mtd %s at %#x: %w", d.f.Name(), b, err)
		}
	}
	return nil
}

// IsBad reports whether the erase block at off is marked bad. NOR flash
// has no bad blocks and always reports false.
func (d *Device) IsBad(off int64) (bool, error) {
	if !d.info.Type.IsNAND() {
		return false, nil
	}
	bad, err := getBad(d.f, off)
	if err != nil {
		return false, fmt.Errorf("mtd %s: MEMGETBADBLOCK at %#x: %w", d.f.Name(), off, err)
	}
	return bad, nil
}

// MarkBad marks the erase block at off bad, so that it is skipped from now
// on. Only NAND has bad blocks.
func (d *Device) MarkBad(off int64) error {
	if !d.info.Type.IsNAND() {
		return fmt.Errorf("mtd %s: mark block %#x bad: %s flash has no bad blocks: %w",
			d.f.Name(), off, d.info.Type, errors.ErrUnsupported)
	}
	if err := setBad(d.f, off); err != nil {
		return fmt.Errorf("mtd %s: MEMSETBADBLOCK at %#x: %w", d.f.Name(), off, err)
	}
	return nil
}

// Close closes the device. MTD writes reach the chip before WriteAt
// returns, so there is nothing to flush.
func (d *Device) Close() error {
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("close mtd: %w", err)
	}
	return nil
}

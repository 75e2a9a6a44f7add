package mtdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"patchbay.dev/firmware/slot/mtd"
)

// ErrPowerCut is returned by every program and erase after the budget set
// with CutPowerAfter is spent.
var ErrPowerCut = errors.New("mtdtest: power cut")

// NOR returns the geometry of a NOR chip: byte-programmable, no bad blocks.
func NOR(size, eraseSize int64) mtd.Info {
	return mtd.Info{Type: mtd.NORFlash, Size: size, EraseSize: eraseSize, WriteSize: 1}
}

// NAND returns the geometry of a NAND chip programmed in pages of pageSize.
func NAND(size, eraseSize, pageSize int64) mtd.Info {
	return mtd.Info{Type: mtd.NANDFlash, Size: size, EraseSize: eraseSize, WriteSize: pageSize, OOBSize: pageSize / 32}
}

// Stats counts what was done to a chip.
type Stats struct {
	// Programmed is the number of bytes written (WriteAt).
	Programmed int64
	// Erases is the number of erase blocks erased.
	Erases int64
	// Opens and Closes count Devices opened and closed.
	Opens, Closes int64
}

// Chip is the flash behind a fake device.
type Chip struct {
	info mtd.Info
	f    *os.File

	mu       sync.Mutex
	bad      map[int64]bool  // erase block offsets marked bad
	failing  map[int64]error // erase block offsets whose program and erase fail
	budget   int64           // bytes that may still be programmed; < 0: no limit
	stats    Stats
	powerOff bool
}

// New returns an erased chip with the geometry info, backed by a file in
// t.TempDir(). The file is closed when the test ends.
func New(t testing.TB, info mtd.Info) *Chip {
	t.Helper()
	if err := info.Check(); err != nil {
		t.Fatalf("mtdtest.New: %v", err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "mtd-"+info.Type.String()+".bin"))
	if err != nil {
		t.Fatalf("mtdtest.New: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Write(bytes.Repeat([]byte{0xFF}, int(info.Size))); err != nil {
		t.Fatalf("mtdtest.New: %v", err)
	}
	return &Chip{info: info, f: f, bad: map[int64]bool{}, failing: map[int64]error{}, budget: -1}
}

// Info returns the chip's geometry.
func (c *Chip) Info() mtd.Info { return c.info }

// SetBad marks the erase block containing off bad, as a factory bad block.
// It panics on NOR, which has none.
func (c *Chip) SetBad(off int64) {
	if !c.info.Type.IsNAND() {
		panic("mtdtest: NOR flash has no bad blocks")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad[c.block(off)] = true
}

// FailBlock makes every program and erase of the erase block containing
// off fail with err, as a block going bad in the field would (EIO).
func (c *Chip) FailBlock(off int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failing[c.block(off)] = err
}

// CutPowerAfter lets n more bytes be programmed; the write that crosses
// the limit is applied up to it and fails, and so does every later program
// or erase, with ErrPowerCut, until RestorePower.
func (c *Chip) CutPowerAfter(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.budget = n
	c.powerOff = false
}

// RestorePower undoes CutPowerAfter.
func (c *Chip) RestorePower() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.budget = -1
	c.powerOff = false
}

// Stats returns the counters.
func (c *Chip) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Bytes returns a copy of the whole chip's contents.
func (c *Chip) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := make([]byte, c.info.Size)
	if _, err := c.f.ReadAt(b, 0); err != nil {
		panic(fmt.Sprintf("mtdtest: read backing file: %v", err))
	}
	return b
}

// Open returns a device on the chip, as mtd.Open does on a real one.
func (c *Chip) Open(ctx context.Context) (*Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Opens++
	return &Device{c: c}, nil
}

func (c *Chip) block(off int64) int64 { return off - off%c.info.EraseSize }

// Device is an open fake MTD device, with the methods of *mtd.Device.
type Device struct {
	c      *Chip
	closed bool // guarded by c.mu
}

// Info returns the chip's geometry.
func (d *Device) Info() mtd.Info { return d.c.info }

// ReadAt reads like a file: at the end of the chip it returns io.EOF.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.closed {
		return 0, os.ErrClosed
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	if off >= c.info.Size {
		return 0, io.EOF
	}
	n := len(p)
	if rest := c.info.Size - off; int64(n) > rest {
		n = int(rest)
	}
	if _, err := c.f.ReadAt(p[:n], off); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt programs p at off. Bits can only be cleared: each byte becomes
// old & new. On NAND, off and len(p) must be page-aligned (EINVAL) and the
// pages erased (EIO otherwise: real NAND would silently corrupt them).
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.closed {
		return 0, os.ErrClosed
	}
	if off < 0 || off+int64(len(p)) > c.info.Size {
		return 0, syscall.ENOSPC
	}
	if ws := c.info.WriteSize; off%ws != 0 || int64(len(p))%ws != 0 {
		return 0, syscall.EINVAL
	}
	for b := c.block(off); b < off+int64(len(p)); b += c.info.EraseSize {
		if c.bad[b] {
			return 0, syscall.EIO
		}
		if err := c.failing[b]; err != nil {
			return 0, err
		}
	}
	old := make([]byte, len(p))
	if _, err := c.f.ReadAt(old, off); err != nil {
		return 0, err
	}
	if c.info.Type.IsNAND() && !bytes.Equal(old, bytes.Repeat([]byte{0xFF}, len(old))) {
		return 0, syscall.EIO
	}
	n, cut := c.spend(int64(len(p)))
	for i := range n {
		old[i] &= p[i]
	}
	if _, err := c.f.WriteAt(old[:n], off); err != nil {
		return 0, err
	}
	c.stats.Programmed += int64(n)
	if cut {
		return n, ErrPowerCut
	}
	return n, nil
}

// spend takes up to n bytes from the power budget and reports whether the
// power went out on the way.
func (c *Chip) spend(n int64) (int, bool) {
	if c.powerOff {
		return 0, true
	}
	if c.budget < 0 {
		return int(n), false
	}
	if n <= c.budget {
		c.budget -= n
		return int(n), false
	}
	got := c.budget
	c.budget = 0
	c.powerOff = true
	return int(got), true
}

// Erase sets the erase blocks in [off, off+length) to 0xFF. The range must
// be block-aligned (EINVAL); a bad block fails with EIO.
func (d *Device) Erase(ctx context.Context, off, length int64) error {
	c := d.c
	es := c.info.EraseSize
	if off < 0 || length < 0 || off%es != 0 || length%es != 0 || off+length > c.info.Size {
		return syscall.EINVAL
	}
	for b := off; b < off+length; b += es {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.eraseBlock(b); err != nil {
			return err
		}
	}
	return nil
}

func (d *Device) eraseBlock(b int64) error {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case d.closed:
		return os.ErrClosed
	case c.bad[b]:
		return syscall.EIO
	case c.failing[b] != nil:
		return c.failing[b]
	case c.powerOff || c.budget == 0:
		c.powerOff = true
		return ErrPowerCut
	}
	if _, err := c.f.WriteAt(bytes.Repeat([]byte{0xFF}, int(c.info.EraseSize)), b); err != nil {
		return err
	}
	c.stats.Erases++
	return nil
}

// IsBad reports whether the block containing off is bad; always false on
// NOR.
func (d *Device) IsBad(off int64) (bool, error) {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.closed {
		return false, os.ErrClosed
	}
	if off < 0 || off >= c.info.Size {
		return false, syscall.EINVAL
	}
	return c.bad[c.block(off)], nil
}

// MarkBad marks the block containing off bad (NAND only).
func (d *Device) MarkBad(off int64) error {
	c := d.c
	if !c.info.Type.IsNAND() {
		return fmt.Errorf("mark block bad on nor: %w", errors.ErrUnsupported)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.closed {
		return os.ErrClosed
	}
	c.bad[c.block(off)] = true
	return nil
}

// Close closes the device; closing twice fails as for a file.
func (d *Device) Close() error {
	c := d.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.closed {
		return os.ErrClosed
	}
	d.closed = true
	c.stats.Closes++
	return nil
}

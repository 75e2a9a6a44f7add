package bootenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"patchbay.dev/firmware/slot/mtd"
)

// medium is the storage of one copy, opened for one operation.
type medium interface {
	scheme() flagScheme
	// read fills p, whose length is the copy's size, with the copy.
	read(ctx context.Context, p []byte) error
	// write stores the copy img, whose first hdr bytes are its header, so
	// that an interruption anywhere leaves a copy whose CRC does not match
	// or that holds all of img: the data area first, the header last,
	// where the medium allows that order. It returns once img is durable.
	write(ctx context.Context, img []byte, hdr int) error
	// markObsolete clears the copy's flag byte in place (NOR).
	markObsolete(ctx context.Context) error
	close() error
}

// opener opens the medium of a copy; tests substitute fakes.
type opener func(ctx context.Context, loc Location, writable bool) (medium, error)

// openMedium opens the file, block device or MTD device of loc.
func openMedium(ctx context.Context, loc Location, writable bool) (medium, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if strings.HasPrefix(loc.Device, "/dev/ubi") {
		return nil, fmt.Errorf("bootenv %s: UBI volumes are not supported yet (use fw_setenv, or an MTD or block device): %w",
			loc, errors.ErrUnsupported)
	}
	fi, err := os.Stat(loc.Device)
	if err != nil {
		return nil, fmt.Errorf("bootenv %s: %w", loc, err)
	}
	flag := os.O_RDONLY
	if writable {
		flag = os.O_RDWR
	}
	switch mode := fi.Mode(); {
	case mode.IsRegular():
		if loc.Offset < 0 {
			return nil, fmt.Errorf("bootenv %s: a negative offset counts from the end of a block device; %s is a file", loc, loc.Device)
		}
		f, err := os.OpenFile(loc.Device, flag, 0)
		if err != nil {
			return nil, fmt.Errorf("bootenv %s: %w", loc, err)
		}
		return &fileMedium{f: f, loc: loc, off: loc.Offset}, nil
	case mode&os.ModeDevice != 0 && mode&os.ModeCharDevice == 0:
		return openBlockMedium(loc, flag)
	case mode&os.ModeCharDevice != 0:
		open := mtd.OpenReadOnly
		if writable {
			open = mtd.Open
		}
		dev, err := open(ctx, loc.Device)
		if err != nil {
			return nil, fmt.Errorf("bootenv %s: a character device that is not MTD flash: %w", loc, err)
		}
		m, err := newFlashMedium(dev, loc)
		if err != nil {
			dev.Close()
			return nil, err
		}
		return m, nil
	default:
		return nil, fmt.Errorf("bootenv %s: %s is neither a file nor a block or MTD device", loc, loc.Device)
	}
}

func openBlockMedium(loc Location, flag int) (medium, error) {
	f, err := os.OpenFile(loc.Device, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("bootenv %s: %w", loc, err)
	}
	off := loc.Offset
	if off < 0 {
		end, err := f.Seek(0, io.SeekEnd)
		if err == nil && end+off < 0 {
			err = fmt.Errorf("offset reaches before the start of the %d-byte device", end)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("bootenv %s: %w", loc, err)
		}
		off += end
	}
	return &fileMedium{f: f, loc: loc, off: off}, nil
}

// fileDevice is a file or block device; *os.File is one.
type fileDevice interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Close() error
}

// fileMedium is a copy in a file or on a block device: written in place,
// made durable with fsync.
type fileMedium struct {
	f   fileDevice
	loc Location
	off int64 // resolved offset
}

func (m *fileMedium) scheme() flagScheme { return incremental }

func (m *fileMedium) read(_ context.Context, p []byte) error {
	n, err := m.f.ReadAt(p, m.off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("bootenv %s: the device ends after %d of the copy's %d bytes", m.loc, n, len(p))
	}
	return fmt.Errorf("bootenv %s: read: %w", m.loc, err)
}

func (m *fileMedium) write(_ context.Context, img []byte, hdr int) error {
	if _, err := m.f.WriteAt(img[hdr:], m.off+int64(hdr)); err != nil {
		return fmt.Errorf("bootenv %s: write data: %w", m.loc, err)
	}
	if err := m.f.Sync(); err != nil {
		return fmt.Errorf("bootenv %s: sync data: %w", m.loc, err)
	}
	if _, err := m.f.WriteAt(img[:hdr], m.off); err != nil {
		return fmt.Errorf("bootenv %s: write header: %w", m.loc, err)
	}
	if err := m.f.Sync(); err != nil {
		return fmt.Errorf("bootenv %s: sync header: %w", m.loc, err)
	}
	return nil
}

func (m *fileMedium) markObsolete(context.Context) error {
	return fmt.Errorf("bootenv %s: obsolete flags are for NOR flash, not files", m.loc)
}

func (m *fileMedium) close() error { return m.f.Close() }

// flashDevice is what a copy on MTD flash needs; *mtd.Device has it, and
// so does the fake *mtdtest.Device.
type flashDevice interface {
	io.ReaderAt
	io.WriterAt
	Info() mtd.Info
	Erase(ctx context.Context, off, length int64) error
	IsBad(off int64) (bool, error)
	Close() error
}

// flashMedium is a copy on MTD flash. The copy starts each sector it
// uses; NAND sectors that are bad are skipped (up to loc.Sectors), and
// sector contents beyond the copy are preserved across the erase.
type flashMedium struct {
	dev     flashDevice
	loc     Location
	info    mtd.Info
	sector  int64 // erase unit of the copy
	sectors int64 // sectors the copy may use
	flags   flagScheme
}

func newFlashMedium(dev flashDevice, loc Location) (*flashMedium, error) {
	info := dev.Info()
	m := &flashMedium{dev: dev, loc: loc, info: info, sector: loc.SectorSize}
	switch {
	case info.Type == mtd.NORFlash || info.Type == mtd.DataFlash:
		m.flags = boolean
	case info.Type.IsNAND():
		m.flags = incremental
	default:
		return nil, fmt.Errorf("bootenv %s: %s flash is not supported (want NOR or NAND)", loc, info.Type)
	}
	if m.sector == 0 {
		m.sector = info.EraseSize
	}
	need := (loc.Size + m.sector - 1) / m.sector
	m.sectors = max(loc.Sectors, need)
	switch {
	case m.sector%info.EraseSize != 0:
		return nil, fmt.Errorf("bootenv %s: sector size %#x is not a multiple of the flash erase size %#x", loc, m.sector, info.EraseSize)
	case loc.Offset < 0 || loc.Offset%info.EraseSize != 0:
		return nil, fmt.Errorf("bootenv %s: offset is not at an erase block of %#x bytes; fw_setenv cannot erase it either", loc, info.EraseSize)
	case loc.Offset+m.sectors*m.sector > info.Size:
		return nil, fmt.Errorf("bootenv %s: %d sectors of %#x bytes do not fit the %#x-byte partition", loc, m.sectors, m.sector, info.Size)
	}
	return m, nil
}

func (m *flashMedium) scheme() flagScheme { return m.flags }

// goodSectors returns the offsets of the sectors that hold the copy.
func (m *flashMedium) goodSectors() ([]int64, error) {
	need := (m.loc.Size + m.sector - 1) / m.sector
	var good []int64
	for i := int64(0); i < m.sectors && int64(len(good)) < need; i++ {
		off := m.loc.Offset + i*m.sector
		bad := false
		for b := off; b < off+m.sector && !bad; b += m.info.EraseSize {
			var err error
			if bad, err = m.dev.IsBad(b); err != nil {
				return nil, fmt.Errorf("bootenv %s: %w", m.loc, err)
			}
		}
		if !bad {
			good = append(good, off)
		}
	}
	if int64(len(good)) < need {
		return nil, fmt.Errorf("bootenv %s: only %d of %d sectors are good, the copy needs %d", m.loc, len(good), m.sectors, need)
	}
	return good, nil
}

func (m *flashMedium) read(_ context.Context, p []byte) error {
	secs, err := m.goodSectors()
	if err != nil {
		return err
	}
	for i, off := range secs {
		chunk := p[int64(i)*m.sector : min(int64(i+1)*m.sector, int64(len(p)))]
		if n, err := m.dev.ReadAt(chunk, off); n < len(chunk) {
			return fmt.Errorf("bootenv %s: read sector at %#x: %w", m.loc, off, err)
		}
	}
	return nil
}

func (m *flashMedium) write(ctx context.Context, img []byte, hdr int) error {
	secs, err := m.goodSectors()
	if err != nil {
		return err
	}
	nor := m.info.WriteSize == 1
	var header []byte
	for i, off := range secs {
		buf := make([]byte, m.sector)
		chunk := img[int64(i)*m.sector : min(int64(i+1)*m.sector, int64(len(img)))]
		if len(chunk) < len(buf) {
			// Keep what else lives in the sector.
			if n, err := m.dev.ReadAt(buf, off); n < len(buf) {
				return fmt.Errorf("bootenv %s: read sector at %#x: %w", m.loc, off, err)
			}
		}
		copy(buf, chunk)
		if i == 0 && nor {
			// NOR is programmed byte by byte: leave the header erased
			// until the rest is in place.
			header = bytes.Clone(buf[:hdr])
			copy(buf[:hdr], bytes.Repeat([]byte{0xFF}, hdr))
		}
		if err := m.dev.Erase(ctx, off, m.sector); err != nil {
			return fmt.Errorf("bootenv %s: erase sector at %#x: %w", m.loc, off, err)
		}
		if err := m.program(buf, off); err != nil {
			return err
		}
	}
	if header != nil {
		if _, err := m.dev.WriteAt(header, secs[0]); err != nil {
			return fmt.Errorf("bootenv %s: write header: %w", m.loc, err)
		}
	}
	return nil
}

// program writes buf at off up to its last byte that is not 0xFF,
// rounded up to whole pages: programming erased bytes only wears flash.
func (m *flashMedium) program(buf []byte, off int64) error {
	end := int64(len(bytes.TrimRight(buf, "\xff")))
	if rem := end % m.info.WriteSize; rem != 0 {
		end += m.info.WriteSize - rem
	}
	if end == 0 {
		return nil
	}
	if _, err := m.dev.WriteAt(buf[:end], off); err != nil {
		return fmt.Errorf("bootenv %s: program sector at %#x: %w", m.loc, off, err)
	}
	return nil
}

func (m *flashMedium) markObsolete(context.Context) error {
	if m.info.WriteSize != 1 {
		return fmt.Errorf("bootenv %s: cannot clear one flag byte on %s flash", m.loc, m.info.Type)
	}
	secs, err := m.goodSectors()
	if err != nil {
		return err
	}
	if _, err := m.dev.WriteAt([]byte{flagObsolete}, secs[0]+4); err != nil {
		return fmt.Errorf("bootenv %s: mark obsolete: %w", m.loc, err)
	}
	return nil
}

func (m *flashMedium) close() error { return m.dev.Close() }

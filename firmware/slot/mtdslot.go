package slot

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"patchbay.dev/firmware/slot/mtd"
)

// MTDDevice is what the MTD backend needs of a flash partition.
// *mtd.Device has it, and so does the fake *mtdtest.Device.
type MTDDevice interface {
	io.ReaderAt
	io.WriterAt
	Info() mtd.Info
	Erase(ctx context.Context, off, length int64) error
	IsBad(off int64) (bool, error)
	Close() error
}

// MTD is a slot on a raw flash partition (/dev/mtd5). The image is written
// in erase blocks, NAND bad blocks are skipped on writing and reading as
// U-Boot's "nand write"/"nand read" and OpenWrt's mtd tool skip them, and
// the last page is padded with 0xFF. The device is opened for each
// operation and closed after it.
type MTD struct {
	name string
	open func(context.Context) (MTDDevice, error)
	info mtd.Info
	size int64
}

// OpenMTD returns the slot name on the MTD character device at path.
func OpenMTD(ctx context.Context, name, path string) (*MTD, error) {
	return NewMTD(ctx, name, func(ctx context.Context) (MTDDevice, error) {
		d, err := mtd.Open(ctx, path)
		if err != nil {
			return nil, err
		}
		return d, nil
	})
}

// NewMTD returns the slot name on the device that open opens. It opens the
// device once to read its geometry and count its good blocks; Size is what
// the good blocks hold.
func NewMTD(ctx context.Context, name string, open func(context.Context) (MTDDevice, error)) (*MTD, error) {
	s := &MTD{name: name, open: open}
	dev, err := open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open mtd slot %s: %w", name, err)
	}
	defer dev.Close()
	s.info = dev.Info()
	if err := s.info.Check(); err != nil {
		return nil, fmt.Errorf("open mtd slot %s: %w", name, err)
	}
	good, err := s.goodBlocks(dev)
	if err != nil {
		return nil, err
	}
	s.size = int64(len(good)) * s.info.EraseSize
	if s.size == 0 {
		return nil, fmt.Errorf("open mtd slot %s: every block of %v is bad", name, s.info)
	}
	return s, nil
}

// Name returns the slot's name.
func (s *MTD) Name() string { return s.name }

// Size returns the bytes the partition's good blocks held when the slot
// was opened.
func (s *MTD) Size() int64 { return s.size }

// Info returns the partition's geometry.
func (s *MTD) Info() mtd.Info { return s.info }

// goodBlocks returns the offsets of the blocks that are not bad, in order.
func (s *MTD) goodBlocks(dev MTDDevice) ([]int64, error) {
	var good []int64
	for off := int64(0); off < s.info.Size; off += s.info.EraseSize {
		bad, err := dev.IsBad(off)
		if err != nil {
			return nil, fmt.Errorf("mtd slot %s: %w", s.name, err)
		}
		if !bad {
			good = append(good, off)
		}
	}
	return good, nil
}

// Create erases the blocks the image needs, first block first, which
// invalidates the slot, and returns a Writer for the image. Erasing takes
// time on NOR (up to a second per block); ctx is checked between blocks.
func (s *MTD) Create(ctx context.Context, length int64) (Writer, error) {
	if err := checkLength(s, length); err != nil {
		return nil, err
	}
	dev, err := s.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("create slot %s: %w", s.name, err)
	}
	sk, err := s.prepare(ctx, dev, length)
	if err != nil {
		dev.Close()
		return nil, err
	}
	return newBlockWriter(s.name, sk, int(s.info.EraseSize), length), nil
}

func (s *MTD) prepare(ctx context.Context, dev MTDDevice, length int64) (*mtdSink, error) {
	good, err := s.goodBlocks(dev)
	if err != nil {
		return nil, err
	}
	es := s.info.EraseSize
	need := max(1, (length+es-1)/es) // block 0 is erased even for an empty image
	if need > int64(len(good)) {
		return nil, fmt.Errorf("create slot %s: image of %d bytes needs %d blocks, %d are good: %w",
			s.name, length, need, len(good), ErrTooLarge)
	}
	for _, off := range good[:need] {
		if err := dev.Erase(ctx, off, es); err != nil {
			return nil, fmt.Errorf("create slot %s: erase block at %#x: %w", s.name, off, err)
		}
	}
	return &mtdSink{dev: dev, blocks: good[:need], info: s.info}, nil
}

// Open reads the good blocks of the partition in order.
func (s *MTD) Open(ctx context.Context) (io.ReadCloser, error) {
	dev, err := s.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open slot %s: %w", s.name, err)
	}
	good, err := s.goodBlocks(dev)
	if err != nil {
		dev.Close()
		return nil, err
	}
	return &mtdReader{dev: dev, blocks: good, es: s.info.EraseSize}, nil
}

// Invalidate erases the first good block.
func (s *MTD) Invalidate(ctx context.Context) error {
	dev, err := s.open(ctx)
	if err != nil {
		return fmt.Errorf("invalidate slot %s: %w", s.name, err)
	}
	_, err = s.prepare(ctx, dev, 0)
	if cerr := dev.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("invalidate slot %s: %w", s.name, cerr)
	}
	return err
}

// mtdSink programs a blockWriter's blocks into erased flash blocks.
type mtdSink struct {
	dev    MTDDevice
	blocks []int64 // flash offset of each image block: the good blocks
	info   mtd.Info
}

func (s *mtdSink) writeAt(p []byte, off int64) error {
	i := off / s.info.EraseSize
	if off%s.info.EraseSize != 0 || i >= int64(len(s.blocks)) || int64(len(p)) > s.info.EraseSize {
		return fmt.Errorf("mtd write of %d bytes at image offset %d: not an erased block of the image", len(p), off)
	}
	if rem := int64(len(p)) % s.info.WriteSize; rem != 0 {
		// The last page of the image: pad it as erased flash reads.
		p = append(bytes.Clone(p), bytes.Repeat([]byte{0xFF}, int(s.info.WriteSize-rem))...)
	}
	_, err := s.dev.WriteAt(p, s.blocks[i])
	return err
}

// flush has nothing to do: MTD writes reach the chip before they return.
func (s *mtdSink) flush() error { return nil }

func (s *mtdSink) close() error { return s.dev.Close() }

// mtdReader reads the good blocks of a partition as one stream.
type mtdReader struct {
	dev    MTDDevice
	blocks []int64
	es     int64
	pos    int64
}

func (r *mtdReader) Read(p []byte) (int, error) {
	i := r.pos / r.es
	if i >= int64(len(r.blocks)) {
		return 0, io.EOF
	}
	within := r.pos % r.es
	if rest := r.es - within; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := r.dev.ReadAt(p, r.blocks[i]+within)
	r.pos += int64(n)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	return n, err
}

func (r *mtdReader) Close() error { return r.dev.Close() }

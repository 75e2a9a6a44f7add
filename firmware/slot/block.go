package slot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Block is a slot on a raw block device or partition (/dev/mmcblk0p3,
// /dev/sda2). Its size is the device's. Writes go through the page cache
// and are made durable with fsync at Commit, which on Linux also flushes
// the device's volatile write cache.
type Block struct {
	name string
	path string
	size int64
	open openFunc
}

// OpenBlock returns the slot name on the block device at path, reading
// the device's size: BLKGETSIZE64 where the system has it, else the
// position of its end. A regular file works too, at its current size.
func OpenBlock(ctx context.Context, name, path string) (*Block, error) {
	return openBlock(ctx, name, path, openOS)
}

func openBlock(ctx context.Context, name, path string, open openFunc) (*Block, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open block slot %s: %w", name, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open block slot %s: %w", name, err)
	}
	defer f.Close()
	size, err := deviceSize(f)
	if errors.Is(err, errors.ErrUnsupported) || errors.Is(err, syscall.ENOTTY) {
		size, err = f.Seek(0, io.SeekEnd)
	}
	if err != nil {
		return nil, fmt.Errorf("open block slot %s: size of %s: %w", name, path, err)
	}
	if size <= 0 {
		return nil, fmt.Errorf("open block slot %s: %s has no room (size %d)", name, path, size)
	}
	return &Block{name: name, path: path, size: size, open: open}, nil
}

// Name returns the slot's name.
func (s *Block) Name() string { return s.name }

// Size returns the size of the device.
func (s *Block) Size() int64 { return s.size }

// Path returns the device's path.
func (s *Block) Path() string { return s.path }

// Create zeroes the first block, which invalidates the slot, makes that
// durable, and returns a Writer for the new image.
func (s *Block) Create(ctx context.Context, length int64) (Writer, error) {
	if err := checkLength(s, length); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create slot %s: %w", s.name, err)
	}
	f, err := s.open(s.path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("create slot %s: %w", s.name, err)
	}
	sk := &fileSink{f: f}
	if err := s.zeroHead(sk); err != nil {
		f.Close()
		return nil, fmt.Errorf("create slot %s: invalidate: %w", s.name, err)
	}
	return newBlockWriter(s.name, sk, fileBlockSize, length), nil
}

func (s *Block) zeroHead(sk *fileSink) error {
	if err := sk.writeAt(make([]byte, min(fileBlockSize, s.size)), 0); err != nil {
		return err
	}
	return sk.flush()
}

// Open reads the device from its start to its end.
func (s *Block) Open(ctx context.Context) (io.ReadCloser, error) {
	return openReader(ctx, s.name, s.open, s.path, s.size)
}

// Invalidate zeroes the first block of the device.
func (s *Block) Invalidate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("invalidate slot %s: %w", s.name, err)
	}
	f, err := s.open(s.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("invalidate slot %s: %w", s.name, err)
	}
	sk := &fileSink{f: f}
	err = s.zeroHead(sk)
	if cerr := sk.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("invalidate slot %s: %w", s.name, err)
	}
	return nil
}

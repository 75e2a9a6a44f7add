package slot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"patchbay.dev/firmware/atomicfile"
	"path/filepath"
)

// fileBlockSize is the unit in which file and block-device slots are
// written, and the size of the first block that is written last.
const fileBlockSize = 128 << 10

// storage is the file under a File or Block slot; *os.File is one. Tests
// substitute storage that fails.
type storage interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Close() error
}

// openFunc opens a slot's storage, as os.OpenFile does.
type openFunc func(path string, flag int, perm fs.FileMode) (storage, error)

func openOS(path string, flag int, perm fs.FileMode) (storage, error) {
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// File is a slot kept in a regular file: the image is the file's content.
// Devices that boot from files on a file system use it, and so do tests.
type File struct {
	name string
	path string
	size int64
	open openFunc
}

// NewFile returns the slot name stored in the file at path, holding images
// of up to size bytes. The file is created by the first write.
func NewFile(name, path string, size int64) *File {
	return &File{name: name, path: path, size: size, open: openOS}
}

// Name returns the slot's name.
func (s *File) Name() string { return s.name }

// Size returns the slot's capacity.
func (s *File) Size() int64 { return s.size }

// Path returns the file's path.
func (s *File) Path() string { return s.path }

// Create truncates the file, which invalidates the slot, makes that
// durable, and returns a Writer for the new image.
func (s *File) Create(ctx context.Context, length int64) (Writer, error) {
	if err := checkLength(s, length); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create slot %s: %w", s.name, err)
	}
	f, err := s.open(s.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create slot %s: %w", s.name, err)
	}
	sk := &fileSink{f: f, dir: filepath.Dir(s.path)}
	if err := sk.flush(); err != nil {
		f.Close()
		return nil, fmt.Errorf("create slot %s: sync truncation: %w", s.name, err)
	}
	return newBlockWriter(s.name, sk, fileBlockSize, length), nil
}

// Open reads the file, at most Size bytes of it.
func (s *File) Open(ctx context.Context) (io.ReadCloser, error) {
	return openReader(ctx, s.name, s.open, s.path, s.size)
}

// Invalidate truncates the file to nothing. A missing file is already
// invalid.
func (s *File) Invalidate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("invalidate slot %s: %w", s.name, err)
	}
	f, err := s.open(s.path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("invalidate slot %s: %w", s.name, err)
	}
	err = f.Truncate(0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("invalidate slot %s: %w", s.name, err)
	}
	return nil
}

// checkLength refuses lengths that cannot be an image of s.
func checkLength(s Slot, length int64) error {
	if length < 0 {
		return fmt.Errorf("create slot %s: negative image length %d", s.Name(), length)
	}
	if length > s.Size() {
		return fmt.Errorf("create slot %s: image of %d bytes, slot holds %d: %w", s.Name(), length, s.Size(), ErrTooLarge)
	}
	return nil
}

// fileSink writes a blockWriter's blocks into a file or block device.
type fileSink struct {
	f storage
	// dir, if set, is synced with the file, so that a newly created
	// file's directory entry is as durable as its data.
	dir string
}

func (s *fileSink) writeAt(p []byte, off int64) error {
	_, err := s.f.WriteAt(p, off)
	return err
}

func (s *fileSink) flush() error {
	if err := s.f.Sync(); err != nil {
		return err
	}
	if s.dir == "" {
		return nil
	}
	return atomicfile.SyncDir(s.dir)
}

func (s *fileSink) close() error { return s.f.Close() }

// sectionReadCloser reads a section of a storage and closes it.
type sectionReadCloser struct {
	*io.SectionReader
	c io.Closer
}

func (r sectionReadCloser) Close() error { return r.c.Close() }

func openReader(ctx context.Context, name string, open openFunc, path string, size int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open slot %s: %w", name, err)
	}
	f, err := open(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open slot %s: %w", name, err)
	}
	return sectionReadCloser{io.NewSectionReader(f, 0, size), f}, nil
}

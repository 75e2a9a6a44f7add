package slot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Slot is a place one firmware image is installed into.
type Slot interface {
	// Name identifies the slot in messages and persisted state ("a", "b").
	Name() string
	// Size is the capacity in bytes: the largest image the slot holds.
	Size() int64
	// Create starts writing an image of exactly length bytes. The slot
	// holds no valid image from the moment Create is called until Commit
	// returns nil. It fails with ErrTooLarge if length exceeds Size.
	Create(ctx context.Context, length int64) (Writer, error)
	// Open reads the slot from its start. The reader may end before Size
	// (a file slot ends where its image ends).
	Open(ctx context.Context) (io.ReadCloser, error)
	// Invalidate leaves the slot holding no image that verifies or boots.
	// Backends destroy the first block rather than erase everything.
	Invalidate(ctx context.Context) error
}

// Writer streams one image into a slot.
type Writer interface {
	// Write appends to the image. Writing beyond the length given to
	// Create fails with a *LengthError.
	io.Writer
	// Commit finishes the image: it checks that exactly the declared
	// length was written, makes the data durable (Sync), then writes the
	// first block and makes that durable, and closes the storage, checking
	// every error. Whatever it returns, the Writer is finished afterwards;
	// on error the slot holds no valid image. It fails if ctx is done.
	Commit(ctx context.Context) error
	// Close abandons an uncommitted image, leaving the slot invalid, and
	// releases the storage. After Commit it does nothing and returns nil,
	// so `defer w.Close()` is always right.
	Close() error
}

// ErrTooLarge is wrapped by errors about an image longer than its slot.
var ErrTooLarge = errors.New("image larger than slot")

// ErrClosed is wrapped by errors about using a Writer after Commit or Close.
var ErrClosed = errors.New("slot writer already finished")

// LengthError reports an image whose byte count differs from the length it
// was declared with: a short download (Got < Want) or a longer one.
type LengthError struct {
	Slot string
	Want int64
	Got  int64 // at least this many bytes (writing stops at the first excess byte)
}

func (e *LengthError) Error() string {
	if e.Got < e.Want {
		return fmt.Sprintf("slot %s: image ended after %d bytes, want %d", e.Slot, e.Got, e.Want)
	}
	return fmt.Sprintf("slot %s: image longer than its declared %d bytes (got %d)", e.Slot, e.Want, e.Got)
}

// HashMismatchError reports a slot whose first Length bytes do not hash to
// the expected SHA-256.
type HashMismatchError struct {
	Slot   string
	Length int64
	Want   []byte
	Got    []byte
}

func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("slot %s: sha256 of %d bytes is %s, want %s",
		e.Slot, e.Length, hex.EncodeToString(e.Got), hex.EncodeToString(e.Want))
}

// copyBufferSize is the chunk in which Write and Verify move data and
// check their context.
const copyBufferSize = 64 << 10

// Write streams exactly length bytes from r into s and commits them. A
// reader that ends early, or has more than length bytes, fails with a
// *LengthError and leaves the slot invalid. ctx is checked between chunks.
func Write(ctx context.Context, s Slot, r io.Reader, length int64) (err error) {
	w, err := s.Create(ctx, length)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := w.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	buf := make([]byte, copyBufferSize)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("write slot %s: %w", s.Name(), err)
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("write slot %s: read image: %w", s.Name(), rerr)
		}
	}
	return w.Commit(ctx)
}

// Verify reads the first length bytes of s back and compares their SHA-256
// with sum. It returns a *HashMismatchError if they differ and a
// *LengthError if the slot ends before length bytes. Only a slot that
// verifies may be switched to.
func Verify(ctx context.Context, s Slot, length int64, sum []byte) (err error) {
	if len(sum) != sha256.Size {
		return fmt.Errorf("verify slot %s: want a %d-byte sha256, got %d bytes", s.Name(), sha256.Size, len(sum))
	}
	if length < 0 || length > s.Size() {
		return fmt.Errorf("verify slot %s: %d bytes in a %d-byte slot: %w", s.Name(), length, s.Size(), ErrTooLarge)
	}
	got, n, err := hashPrefix(ctx, s, length)
	if err != nil {
		return err
	}
	if n < length {
		return fmt.Errorf("verify: %w", &LengthError{Slot: s.Name(), Want: length, Got: n})
	}
	if !bytes.Equal(got, sum) {
		return &HashMismatchError{Slot: s.Name(), Length: length, Want: bytes.Clone(sum), Got: got}
	}
	return nil
}

// hashPrefix hashes up to length bytes from the start of s and says how
// many there were.
func hashPrefix(ctx context.Context, s Slot, length int64) (sum []byte, n int64, err error) {
	rc, err := s.Open(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("verify slot %s: %w", s.Name(), err)
	}
	defer func() {
		if cerr := rc.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("verify slot %s: %w", s.Name(), cerr)
		}
	}()
	h := sha256.New()
	r := io.LimitReader(rc, length)
	buf := make([]byte, copyBufferSize)
	for {
		if err := ctx.Err(); err != nil {
			return nil, n, fmt.Errorf("verify slot %s: %w", s.Name(), err)
		}
		m, rerr := r.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if rerr == io.EOF {
			return h.Sum(nil), n, nil
		}
		if rerr != nil {
			return nil, n, fmt.Errorf("verify slot %s: read at %d: %w", s.Name(), n, rerr)
		}
	}
}

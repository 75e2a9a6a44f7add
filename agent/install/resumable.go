package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"patchbay.dev/firmware/atomicfile"
	"path/filepath"
	"strings"

	"patchbay.dev/firmware/slot"
)

// This file gives file and block-device slots what a download that
// survives power cuts needs and firmware/slot does not offer yet: making
// a partial image durable mid-stream (Checkpoint) and continuing it after
// a restart (Resume). It belongs in firmware/slot; the engine only relies
// on the two optional methods, found by type assertion, and restarts
// images from their first byte on slots without them.

// PathSlot is a slot kept in a file or on a block device that can be
// opened by its path: *slot.File and *slot.Block are.
type PathSlot interface {
	slot.Slot
	Path() string
}

// ErrNoCheckpoint is wrapped when an interrupted image cannot be resumed
// (its head file is missing or short, or the slot lost what the checkpoint
// promised); the image must be written again from its first byte.
var ErrNoCheckpoint = errors.New("no usable checkpoint")

// headSize is the part of an image written last, as firmware/slot's own
// writers write their first block last, so that a slot whose write was
// interrupted never holds a bootable header. Until then it lives in
// memory and, from the first checkpoint on, in the head file.
const headSize = 128 << 10

// Resumable is a file or block-device slot whose interrupted image writes
// can continue. Its Create returns a Writer with a Checkpoint method.
type Resumable struct {
	PathSlot
	headFile string
}

// NewResumable returns s with resumable writes. headFile (in the agent's
// state directory, on a file system that survives reboots) keeps the
// first 128 KiB of an image between its first checkpoint and its commit.
func NewResumable(s PathSlot, headFile string) *Resumable {
	return &Resumable{PathSlot: s, headFile: headFile}
}

// Create invalidates the slot and returns a Writer for an image of length
// bytes.
func (r *Resumable) Create(ctx context.Context, length int64) (slot.Writer, error) {
	if err := r.checkLength(length); err != nil {
		return nil, err
	}
	if err := r.PathSlot.Invalidate(ctx); err != nil {
		return nil, err
	}
	if err := r.removeHead(); err != nil {
		return nil, fmt.Errorf("create slot %s: %w", r.Name(), err)
	}
	f, err := os.OpenFile(r.Path(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create slot %s: %w", r.Name(), err)
	}
	// A file slot may have just been created: make its name durable too.
	if st, err := f.Stat(); err != nil || st.Mode().IsRegular() {
		if err == nil {
			err = atomicfile.SyncDir(filepath.Dir(r.Path()))
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("create slot %s: %w", r.Name(), err)
		}
	}
	return r.writer(f, length, 0, nil), nil
}

// Resume continues the image of length bytes whose first offset bytes an
// earlier Writer made durable with Checkpoint. prefix reads those offset
// bytes back (the head from the head file, the rest from the slot) for the
// caller to hash again; the Writer takes the bytes from offset on. It
// fails with an error wrapping ErrNoCheckpoint if that is not possible.
func (r *Resumable) Resume(ctx context.Context, length, offset int64) (prefix io.ReadCloser, w slot.Writer, err error) {
	if err := r.checkLength(length); err != nil {
		return nil, nil, err
	}
	if offset < 0 || offset > length {
		return nil, nil, fmt.Errorf("resume slot %s at %d of %d bytes: %w", r.Name(), offset, length, ErrNoCheckpoint)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("resume slot %s: %w", r.Name(), err)
	}
	headLen := min(length, headSize)
	have := min(offset, headLen)
	head, err := os.ReadFile(r.headFile)
	switch {
	case errors.Is(err, fs.ErrNotExist) && have > 0:
		return nil, nil, fmt.Errorf("resume slot %s: head file %s is missing: %w", r.Name(), r.headFile, ErrNoCheckpoint)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("resume slot %s: %w", r.Name(), err)
	case int64(len(head)) < have:
		return nil, nil, fmt.Errorf("resume slot %s: head file holds %d bytes, checkpoint needs %d: %w", r.Name(), len(head), have, ErrNoCheckpoint)
	}
	rf, err := os.Open(r.Path())
	if err != nil {
		return nil, nil, fmt.Errorf("resume slot %s: %w", r.Name(), err)
	}
	f, err := os.OpenFile(r.Path(), os.O_RDWR, 0)
	if err != nil {
		rf.Close()
		return nil, nil, fmt.Errorf("resume slot %s: %w", r.Name(), err)
	}
	body := &exactReader{r: io.NewSectionReader(rf, have, offset-have), left: offset - have, slot: r.Name()}
	prefix = readCloser{io.MultiReader(bytes.NewReader(head[:have]), body), rf}
	return prefix, r.writer(f, length, offset, head[:have]), nil
}

func (r *Resumable) checkLength(length int64) error {
	if length < 0 {
		return fmt.Errorf("create slot %s: negative image length %d", r.Name(), length)
	}
	if length > r.Size() {
		return fmt.Errorf("create slot %s: image of %d bytes, slot holds %d: %w", r.Name(), length, r.Size(), slot.ErrTooLarge)
	}
	return nil
}

func (r *Resumable) writer(f *os.File, length, offset int64, head []byte) *resumeWriter {
	w := &resumeWriter{slot: r.Name(), f: f, headFile: r.headFile, length: length, written: offset,
		head: make([]byte, min(length, headSize))}
	copy(w.head, head)
	w.headSaved = int64(len(head))
	return w
}

func (r *Resumable) removeHead() error {
	err := os.Remove(r.headFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return removeTemps(filepath.Dir(r.headFile), "."+filepath.Base(r.headFile)+".tmp-")
}

// ReadBackError reports bytes that the slot did not give back as they
// were written: the medium or its driver lost or changed them.
type ReadBackError struct {
	Slot   string
	Offset int64 // of the chunk that differs
	Length int
}

func (e *ReadBackError) Error() string {
	return fmt.Sprintf("slot %s: %d bytes at %d read back differ from what was written", e.Slot, e.Length, e.Offset)
}

// resumeWriter writes an image at its offsets, holding the head back, and
// reads every chunk back as soon as it is written, comparing it with what
// was written: the read-back costs a copy and a compare, not a second
// pass of SHA-256 over the slot.
type resumeWriter struct {
	slot      string
	f         *os.File
	headFile  string
	length    int64
	written   int64
	head      []byte // the first min(length, headSize) bytes
	headSaved int64  // bytes of head durable in the head file
	back      []byte // read-back buffer
	checked   bool   // Commit read the head back too
	err       error  // sticky
	done      bool
}

// readBack compares the len(p) bytes at off in the slot with p.
func (w *resumeWriter) readBack(p []byte, off int64) error {
	if cap(w.back) < len(p) {
		w.back = make([]byte, len(p))
	}
	b := w.back[:len(p)]
	if _, err := w.f.ReadAt(b, off); err != nil {
		return fmt.Errorf("read back slot %s at %d: %w", w.slot, off, err)
	}
	if !bytes.Equal(b, p) {
		return &ReadBackError{Slot: w.slot, Offset: off, Length: len(p)}
	}
	return nil
}

// ReadBackAll says whether every byte this writer wrote, the head
// included, was read back from the slot after Commit and found equal:
// with the bytes before the resume offset hashed from the slot by the
// download, the slot then holds the verified image without a second
// read of the whole slot.
func (w *resumeWriter) ReadBackAll() bool { return w.done && w.checked && w.err == nil }

func (w *resumeWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write slot %s: %w", w.slot, slot.ErrClosed)
	}
	if w.err != nil {
		return 0, w.err
	}
	if int64(len(p)) > w.length-w.written {
		w.err = &slot.LengthError{Slot: w.slot, Want: w.length, Got: w.written + int64(len(p))}
		return 0, w.err
	}
	n := 0
	if w.written < int64(len(w.head)) {
		n = copy(w.head[w.written:], p)
		w.written += int64(n)
	}
	if n < len(p) {
		if _, err := w.f.WriteAt(p[n:], w.written); err != nil {
			w.err = fmt.Errorf("write slot %s at %d: %w", w.slot, w.written, err)
			return n, w.err
		}
		if err := w.readBack(p[n:], w.written); err != nil {
			w.err = err
			return n, err
		}
		w.written += int64(len(p) - n)
	}
	return len(p), nil
}

// Checkpoint makes every byte written so far durable: the slot is synced
// and the head file written, so that Resume can continue from here.
func (w *resumeWriter) Checkpoint(ctx context.Context) error {
	if w.done {
		return fmt.Errorf("checkpoint slot %s: %w", w.slot, slot.ErrClosed)
	}
	if w.err != nil {
		return w.err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("checkpoint slot %s: %w", w.slot, err)
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("checkpoint slot %s: sync: %w", w.slot, err)
		return w.err
	}
	if have := min(w.written, int64(len(w.head))); have > w.headSaved {
		if err := atomicfile.WriteFile(w.headFile, w.head[:have], 0o600); err != nil {
			return fmt.Errorf("checkpoint slot %s: head file: %w", w.slot, err)
		}
		w.headSaved = have
	}
	return nil
}

// Commit makes the body durable, then writes the head and makes it
// durable, as slot.Writer's Commit does.
func (w *resumeWriter) Commit(ctx context.Context) error {
	if w.done {
		return fmt.Errorf("commit slot %s: %w", w.slot, slot.ErrClosed)
	}
	w.done = true
	err := w.commit(ctx)
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("commit slot %s: %w", w.slot, cerr)
	}
	if err != nil {
		return err
	}
	if rerr := os.Remove(w.headFile); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return fmt.Errorf("commit slot %s: remove head file: %w", w.slot, rerr)
	}
	return nil
}

func (w *resumeWriter) commit(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit slot %s: %w", w.slot, err)
	}
	if w.written != w.length {
		return &slot.LengthError{Slot: w.slot, Want: w.length, Got: w.written}
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("commit slot %s: sync: %w", w.slot, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit slot %s: %w", w.slot, err)
	}
	if _, err := w.f.WriteAt(w.head, 0); err != nil {
		return fmt.Errorf("commit slot %s: write first block: %w", w.slot, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("commit slot %s: sync first block: %w", w.slot, err)
	}
	if err := w.readBack(w.head, 0); err != nil {
		return err
	}
	w.checked = true
	return nil
}

// Close abandons an uncommitted image; the head is never written, so the
// slot does not hold a valid image. After Commit it does nothing.
func (w *resumeWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("abandon slot %s: %w", w.slot, err)
	}
	return nil
}

// exactReader reads exactly left bytes or fails.
type exactReader struct {
	r    io.Reader
	left int64
	slot string
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if errors.Is(err, io.EOF) && e.left > 0 {
		return n, fmt.Errorf("slot %s ends %d bytes before its checkpoint: %w", e.slot, e.left, ErrNoCheckpoint)
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// removeTemps deletes the files in dir whose names start with prefix:
// temporary files a power cut left behind.
func removeTemps(dir, prefix string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

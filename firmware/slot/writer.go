package slot

import (
	"context"
	"errors"
	"fmt"
)

// sink is the storage under a blockWriter. The writer hands it whole
// blocks at block-aligned offsets (the last piece of an image may be
// shorter) and the first block last.
type sink interface {
	writeAt(p []byte, off int64) error
	// flush makes everything written so far durable.
	flush() error
	// close releases the storage; its error matters after a commit.
	close() error
}

// blockWriter is the Writer of every backend: it counts bytes against the
// declared length, cuts the stream into blocks, holds the first block back
// until Commit and passes the rest to its sink as they fill. It holds at
// most two blocks in memory.
type blockWriter struct {
	slot      string
	sink      sink
	blockSize int
	length    int64

	written int64
	head    []byte // block 0, written by Commit; nil until full or Commit
	buf     []byte // the block being filled; len is what is buffered
	bufOff  int64  // image offset of buf[0]
	err     error  // sticky: a failed write makes the image unusable
	done    bool
}

func newBlockWriter(slot string, s sink, blockSize int, length int64) *blockWriter {
	return &blockWriter{
		slot:      slot,
		sink:      s,
		blockSize: blockSize,
		length:    length,
		buf:       make([]byte, 0, blockSize),
	}
}

func (w *blockWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write slot %s: %w", w.slot, ErrClosed)
	}
	if w.err != nil {
		return 0, w.err
	}
	if rest := w.length - w.written; int64(len(p)) > rest {
		w.err = &LengthError{Slot: w.slot, Want: w.length, Got: w.written + int64(len(p))}
		return 0, w.err
	}
	n := 0
	for n < len(p) {
		k := copy(w.buf[len(w.buf):cap(w.buf)], p[n:])
		w.buf = w.buf[:len(w.buf)+k]
		n += k
		w.written += int64(k)
		if len(w.buf) == cap(w.buf) {
			if err := w.flushBlock(); err != nil {
				w.err = err
				return n, err
			}
		}
	}
	return n, nil
}

// flushBlock passes the buffered block on, or keeps it as the head.
func (w *blockWriter) flushBlock() error {
	if len(w.buf) == 0 {
		return nil
	}
	if w.bufOff == 0 {
		w.head = w.buf
		w.buf = make([]byte, 0, w.blockSize)
	} else {
		if err := w.sink.writeAt(w.buf, w.bufOff); err != nil {
			return fmt.Errorf("write slot %s at %d: %w", w.slot, w.bufOff, err)
		}
		w.buf = w.buf[:0]
	}
	w.bufOff += int64(w.blockSize)
	return nil
}

func (w *blockWriter) Commit(ctx context.Context) error {
	if w.done {
		return fmt.Errorf("commit slot %s: %w", w.slot, ErrClosed)
	}
	err := w.commit(ctx)
	if err != nil {
		w.done = true
		return errors.Join(err, w.abort())
	}
	w.done = true
	if err := w.sink.close(); err != nil {
		return fmt.Errorf("commit slot %s: %w", w.slot, err)
	}
	return nil
}

func (w *blockWriter) commit(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit slot %s: %w", w.slot, err)
	}
	if w.written != w.length {
		return &LengthError{Slot: w.slot, Want: w.length, Got: w.written}
	}
	if err := w.flushBlock(); err != nil {
		return err
	}
	if err := w.sink.flush(); err != nil {
		return fmt.Errorf("commit slot %s: sync: %w", w.slot, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit slot %s: %w", w.slot, err)
	}
	if w.head == nil {
		return nil // empty image
	}
	if err := w.sink.writeAt(w.head, 0); err != nil {
		return fmt.Errorf("commit slot %s: write first block: %w", w.slot, err)
	}
	if err := w.sink.flush(); err != nil {
		return fmt.Errorf("commit slot %s: sync first block: %w", w.slot, err)
	}
	return nil
}

// abort releases the storage of an image that will not be committed.
func (w *blockWriter) abort() error {
	w.head, w.buf = nil, nil
	if err := w.sink.close(); err != nil {
		return fmt.Errorf("abandon slot %s: %w", w.slot, err)
	}
	return nil
}

func (w *blockWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	return w.abort()
}

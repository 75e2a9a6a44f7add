package trust

import (
	"context"
	"errors"
	"io"
	"sync"
)

// Pipelined copies move a target in chunks through three stages, each on
// its own goroutine: read from the remote, hash, write. While chunk k is
// written, k+1 is hashed and k+2 is read, so on a device with two cores
// SHA-256 no longer adds to the time the network and the disk take.
// Memory is fixed: pipeDepth chunks of pipeChunk bytes per download.
const (
	pipeChunk = 256 << 10
	pipeDepth = 4
)

var pipeBufs = sync.Pool{New: func() any { b := make([]byte, pipeChunk); return &b }}

type chunk struct {
	buf *[]byte
	n   int
}

// copyVerified streams src into w through v: every chunk is admitted by v
// (length) as soon as it is read, so w never receives a byte past the
// signed length, then hashed, then written, in stream order. It returns
// the first error of any stage; the caller calls v.Verify after a nil
// return. src should end one byte past the remaining signed length at
// most (an io.LimitReader), which is how an over-long stream is noticed.
func copyVerified(ctx context.Context, w io.Writer, v *Verifier, src io.Reader) error {
	free := make(chan *[]byte, pipeDepth)
	for range pipeDepth {
		free <- pipeBufs.Get().(*[]byte)
	}
	toHash := make(chan chunk, pipeDepth)
	toWrite := make(chan chunk, pipeDepth)
	stop := make(chan struct{}) // closed when the writer fails
	var werr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // hash, in stream order
		defer wg.Done()
		defer close(toWrite)
		for c := range toHash {
			v.hash((*c.buf)[:c.n])
			toWrite <- c
		}
	}()
	go func() { // write, in stream order; after a failure only drain
		defer wg.Done()
		for c := range toWrite {
			if werr == nil {
				if _, err := w.Write((*c.buf)[:c.n]); err != nil {
					werr = err
					close(stop)
				}
			}
			free <- c.buf
		}
	}()

	rerr := readChunks(ctx, src, v, free, toHash, stop)
	close(toHash)
	wg.Wait()
	for range pipeDepth {
		pipeBufs.Put(<-free)
	}
	if werr != nil {
		return werr
	}
	return rerr
}

// readChunks is copyVerified's first stage. It stops at the end of src,
// on a read or length error, when ctx is done, or when stop is closed.
func readChunks(ctx context.Context, src io.Reader, v *Verifier, free chan *[]byte, out chan<- chunk, stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		var buf *[]byte
		select {
		case buf = <-free:
		case <-stop:
			return nil // the writer's error is the one to report
		case <-ctx.Done():
			return ctx.Err()
		}
		n, err := io.ReadFull(src, *buf)
		if n > 0 {
			if aerr := v.admit(n); aerr != nil {
				free <- buf // room: pipeDepth buffers exist in all
				return aerr
			}
			out <- chunk{buf, n}
		} else {
			free <- buf
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil
		default:
			return err
		}
	}
}

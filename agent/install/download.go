package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"patchbay.dev/firmware/slot"
	"patchbay.dev/firmware/trust"
)

// resumer is a slot whose interrupted writes can continue (Resumable).
type resumer interface {
	Resume(ctx context.Context, length, offset int64) (prefix io.ReadCloser, w slot.Writer, err error)
}

// readBacker is a slot.Writer that reads back what it writes as it goes
// (Resumable's): when it read back everything, the slot need not be read
// and hashed again after Commit.
type readBacker interface {
	ReadBackAll() bool
}

// checkpointer is a slot.Writer that can make a partial image durable.
type checkpointer interface {
	Checkpoint(ctx context.Context) error
}

// fetchInto makes s hold the update's image, verified by reading it back:
// it streams the signed target into s, continuing from the journal's
// checkpoint where the slot allows, retrying transient failures while the
// download state has attempts left. Checkpoints are persisted in the
// journal. Errors carry their reason (see classify).
func (e *Engine) fetchInto(ctx context.Context, j *Journal, s slot.Slot) error {
	for {
		err := e.fetchOnce(ctx, j, s)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		reason, transient := classify(err, ReasonDownload)
		if !transient {
			return fail(reason, err)
		}
		n := j.Attempts[j.State]
		if ok, _ := attemptsLeft(j.Kind, j.State, n); !ok {
			return fail(reason, fmt.Errorf("after %d attempts: %w", n, err))
		}
		e.log.Warn("download failed, will retry", "target", j.Target.Name, "attempt", n, "written", j.Written, "reason", string(reason), "err", err)
		if wait := e.opts.RetryWait * time.Duration(n); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		j.Attempts[j.State] = n + 1
		if err := e.save(j); err != nil {
			return err
		}
	}
}

// fetchOnce is one attempt of fetchInto.
func (e *Engine) fetchOnce(ctx context.Context, j *Journal, s slot.Slot) error {
	length, sum := j.Target.Length, j.sum()
	if j.Written == length && slot.Verify(ctx, s, length, sum) == nil {
		e.log.Info("slot already holds the image", "slot", s.Name(), "target", j.Target.Name)
		return nil // written and committed before the last stop
	}
	t, err := e.signedTarget(ctx, j)
	if err != nil {
		return err
	}
	w, prefix, offset, err := e.openSlot(ctx, j, s)
	if err != nil {
		return err
	}
	defer w.Close()
	if prefix != nil {
		defer prefix.Close()
		e.log.Info("download resumed", "target", j.Target.Name, "slot", s.Name(), "offset", offset)
	}
	cp, durable := w.(checkpointer)
	cw := &countingWriter{w: w, n: offset, next: offset + e.opts.CheckpointBytes, every: e.opts.CheckpointBytes,
		interval: e.opts.CheckpointInterval, now: e.now, last: e.now()}
	if durable {
		cw.checkpoint = func(n int64) error { return e.checkpoint(ctx, j, cp, n) }
	}
	var pr io.Reader
	if prefix != nil {
		pr = prefix
	}
	if err := e.opts.Fetcher.Resume(ctx, t, cw, pr); err != nil {
		var th *trust.HashMismatchError
		var rb *ReadBackError
		switch {
		case errors.As(err, &rb):
			// The slot did not keep a chunk: nothing written is trusted.
			return e.restart(j, err)
		case errors.Is(err, ErrNoCheckpoint) || offset > 0 && errors.As(err, &th):
			// What the slot held before this attempt was not what the
			// checkpoint promised: start again from the first byte.
			return e.restart(j, retry(ReasonWrite, err))
		case durable && cw.err == nil && ctx.Err() == nil && !errors.As(err, &th):
			// Keep what arrived: the next attempt continues after it.
			if cerr := e.checkpoint(ctx, j, cp, cw.n); cerr != nil {
				return errors.Join(err, cerr)
			}
		}
		return err
	}
	if durable {
		if err := e.checkpoint(ctx, j, cp, length); err != nil {
			return err
		}
	}
	if err := w.Commit(ctx); err != nil {
		var rb *ReadBackError
		if errors.As(err, &rb) {
			return e.restart(j, retry(ReasonWrite, err))
		}
		return retry(ReasonWrite, err)
	}
	if rb, ok := w.(readBacker); ok && rb.ReadBackAll() {
		e.log.Info("slot written and read back", "slot", s.Name(), "target", j.Target.Name, "bytes", length)
		return nil
	}
	if err := slot.Verify(ctx, s, length, sum); err != nil {
		return e.restart(j, retry(ReasonVerification, fmt.Errorf("read back: %w", err)))
	}
	e.log.Info("slot written and verified", "slot", s.Name(), "target", j.Target.Name, "bytes", length)
	return nil
}

// openSlot returns a writer for the image: resumed at the checkpoint if
// the slot can do that, else from the first byte, with the checkpoint
// reset in the journal before the slot is touched.
func (e *Engine) openSlot(ctx context.Context, j *Journal, s slot.Slot) (w slot.Writer, prefix io.ReadCloser, offset int64, err error) {
	if rs, ok := s.(resumer); ok && j.Written > 0 {
		prefix, w, err = rs.Resume(ctx, j.Target.Length, j.Written)
		switch {
		case err == nil:
			return w, prefix, j.Written, nil
		case !errors.Is(err, ErrNoCheckpoint):
			return nil, nil, 0, retry(ReasonWrite, err)
		}
		e.log.Warn("cannot resume, downloading again", "slot", s.Name(), "err", err)
	}
	if j.Written != 0 {
		j.Written = 0
		if err := e.save(j); err != nil {
			return nil, nil, 0, err
		}
	}
	w, err = s.Create(ctx, j.Target.Length)
	if err != nil {
		return nil, nil, 0, retry(ReasonWrite, err)
	}
	return w, nil, 0, nil
}

// checkpoint makes n bytes durable in the slot, then records them in the
// journal. A checkpoint that moves forward starts the download's attempt
// count again: progress is not a loop.
func (e *Engine) checkpoint(ctx context.Context, j *Journal, cp checkpointer, n int64) error {
	if n <= j.Written {
		return nil
	}
	if err := cp.Checkpoint(ctx); err != nil {
		return retry(ReasonWrite, err)
	}
	j.Written = n
	j.Attempts[j.State] = 1
	if err := e.save(j); err != nil {
		return err
	}
	e.log.Debug("download checkpoint", "target", j.Target.Name, "written", n)
	e.progress(ctx, j)
	return nil
}

// restart resets the checkpoint so that the next attempt writes the image
// from its first byte, and returns err.
func (e *Engine) restart(j *Journal, err error) error {
	if j.Written == 0 {
		return err
	}
	j.Written = 0
	if serr := e.save(j); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// countingWriter passes bytes to a slot writer, counts them and calls
// checkpoint every so many bytes, once interval has passed since the last
// one. Slot errors are marked write-failed so that they are not taken for
// the network's.
type countingWriter struct {
	w          io.Writer
	n          int64
	next       int64
	every      int64
	interval   time.Duration // ≤ 0: every boundary
	now        func() time.Time
	last       time.Time
	checkpoint func(n int64) error // nil: the slot cannot checkpoint
	err        error
}

// Write splits p at checkpoint boundaries, so checkpoints fall every
// so many bytes whatever the size of the chunks a download moves.
func (c *countingWriter) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		q := p[done:]
		if c.checkpoint != nil && c.every > 0 && int64(len(q)) > c.next-c.n {
			q = q[:max(c.next-c.n, 0)]
		}
		if len(q) > 0 {
			m, err := c.w.Write(q)
			c.n += int64(m)
			done += m
			if err != nil {
				c.err = retry(ReasonWrite, err)
				return done, c.err
			}
		}
		if c.checkpoint != nil && c.n >= c.next {
			if t := c.now(); c.interval <= 0 || t.Sub(c.last) >= c.interval {
				if err := c.checkpoint(c.n); err != nil {
					c.err = err
					return done, err
				}
				c.last = t
			}
			c.next = c.n + c.every
		}
	}
	return done, nil
}

package trust

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"patchbay.dev/firmware/atomicfile"
	"path/filepath"
	"sync"
)

// copyBufSize is the chunk a download moves at a time.
const copyBufSize = 64 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// Download streams target t from the remote into w, verifying its length
// and every signed hash on the way. w never receives a byte past the
// signed length; a *LengthError stops the transfer the moment the remote
// sends more. Only when Download returns nil were the bytes written to w
// the signed target: w must not be used (booted, installed) otherwise.
func (c *Client) Download(ctx context.Context, t Target, w io.Writer) error {
	return c.download(ctx, t, w, nil)
}

// Resume continues an interrupted Download. prefix yields the bytes an
// earlier attempt already wrote (read back from the slot or file): they
// are hashed again but not written, and the rest is asked for with an
// HTTP range request from where prefix ends.
func (c *Client) Resume(ctx context.Context, t Target, w io.Writer, prefix io.Reader) error {
	return c.download(ctx, t, w, prefix)
}

func (c *Client) download(ctx context.Context, t Target, w io.Writer, prefix io.Reader) error {
	v, err := NewVerifier(t)
	if err != nil {
		return fmt.Errorf("download %s: %w", t.Name, err)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	if prefix != nil {
		if _, err := io.CopyBuffer(v, prefix, *bp); err != nil {
			return fmt.Errorf("download %s: hash what is already written: %w", t.Name, err)
		}
	}
	if offset := v.Written(); offset < t.Length {
		if c.remote == nil {
			return fmt.Errorf("download %s: %w", t.Name, ErrOffline)
		}
		rc, err := c.remote.Target(ctx, t.RemotePath(), offset)
		if err != nil {
			return fmt.Errorf("download %s: %w", t.Name, err)
		}
		defer rc.Close()
		// The verifier sees each chunk first and refuses one that passes
		// the signed length, so w never gets it. Reading one byte past the
		// remaining length is how "too long" is noticed.
		src := io.LimitReader(ctxReader{ctx, rc}, t.Length-offset+1)
		if err := copyVerified(ctx, w, v, src); err != nil {
			var le *LengthError
			if errors.As(err, &le) { // names the target already
				return fmt.Errorf("download: %w", err)
			}
			return fmt.Errorf("download %s: %w", t.Name, err)
		}
		c.log.Debug("target fetched", "target", t.Name, "offset", offset, "bytes", v.Written()-offset)
	}
	if err := v.Verify(); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	return nil
}

// ctxReader stops a read loop once ctx is done, for remotes whose reads do
// not watch the context (files).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// DownloadFile makes path the verified target: if path already holds it
// (same length and hashes) nothing is fetched; otherwise the target is
// streamed into a hidden partial file beside path, which is renamed to
// path only after verification, so path is never a half or unverified
// image. A partial file left by an interrupted attempt is resumed. It is
// deleted when verification fails (*HashMismatchError, *LengthError), and
// kept for the next attempt on other errors.
func (c *Client) DownloadFile(ctx context.Context, t Target, path string) error {
	if err := c.VerifyFile(t, path); err == nil {
		c.log.Debug("target already present", "target", t.Name, "path", path)
		return nil
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("download %s: %w", t.Name, err)
	}
	part := filepath.Join(dir, "."+base+"."+partSuffix(t)+".part")
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("download %s: %w", t.Name, err)
	}
	var prefix io.Reader
	st, err := f.Stat()
	switch {
	case err != nil:
	case st.Size() > t.Length:
		err = f.Truncate(0)
	case st.Size() > 0:
		prefix = io.NewSectionReader(f, 0, st.Size())
		_, err = f.Seek(0, io.SeekEnd)
	}
	if err == nil {
		err = c.download(ctx, t, f, prefix)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("download %s: %w", t.Name, cerr)
	}
	if err == nil {
		if err = os.Rename(part, path); err == nil {
			err = atomicfile.SyncDir(dir)
		}
	}
	if err != nil {
		var le *LengthError
		var he *HashMismatchError
		if errors.As(err, &le) || errors.As(err, &he) {
			os.Remove(part)
		}
		return err
	}
	c.log.Info("target downloaded", "target", t.Name, "path", path, "bytes", t.Length)
	return nil
}

// VerifyFile checks that the file at path is target t.
func (c *Client) VerifyFile(t Target, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	v, err := NewVerifier(t)
	if err != nil {
		return err
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	if _, err := io.CopyBuffer(v, f, *bp); err != nil {
		return err
	}
	return v.Verify()
}

// partSuffix names a partial download after the content it is meant to
// become, so a partial file of another version is never resumed.
func partSuffix(t Target) string {
	for _, alg := range []string{"sha256", "sha512"} {
		if sum, ok := t.Hashes[alg]; ok && len(sum) >= 8 {
			return hex.EncodeToString(sum[:8])
		}
	}
	return "x"
}

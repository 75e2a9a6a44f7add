//go:build unix

package bootenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockPoll is how often a held lock is tried again.
const lockPoll = 10 * time.Millisecond

// lock takes the exclusive flock on path that fw_printenv and fw_setenv
// take, waiting until ctx is done. The returned function releases it.
func lock(ctx context.Context, path string) (func() error, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("bootenv: lock %s: %w (create the directory, or set DisableLock)", path, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f.Close, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("bootenv: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("bootenv: wait for lock %s: %w", path, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}

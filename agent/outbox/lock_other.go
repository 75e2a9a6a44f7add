//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package outbox

import (
	"errors"
	"fmt"
	"os"
)

// lockDir has no flock(2) to lock with here.
func lockDir(dir string) (*os.File, error) {
	return nil, fmt.Errorf("lock outbox %s: %w: the outbox needs flock(2); run the agent on Linux", dir, errors.ErrUnsupported)
}

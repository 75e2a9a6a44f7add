//go:build !unix

package bootenv

import (
	"context"
	"errors"
	"fmt"
)

// lock has no flock to take outside Unix; there is no fw_setenv there to
// share the environment with either.
func lock(_ context.Context, path string) (func() error, error) {
	return nil, fmt.Errorf("bootenv: lock %s: flock needs a Unix system; set DisableLock: %w", path, errors.ErrUnsupported)
}

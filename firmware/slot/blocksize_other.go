//go:build !linux

package slot

import (
	"errors"
	"fmt"
	"os"
)

// deviceSize has no ioctl to ask outside Linux; OpenBlock then takes the
// position of the device's end.
func deviceSize(*os.File) (int64, error) {
	return 0, fmt.Errorf("BLKGETSIZE64 is Linux-only: %w", errors.ErrUnsupported)
}

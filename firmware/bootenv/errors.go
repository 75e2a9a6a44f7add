package bootenv

import (
	"errors"
	"fmt"
	"strings"
)

// ErrCorrupt is wrapped by every error about a copy of the environment
// whose bytes are not a valid environment: a CRC mismatch, an erased copy,
// a data area without its terminating empty entry.
var ErrCorrupt = errors.New("corrupt environment")

// ErrNoSpace is wrapped when the variables do not fit the environment
// size of the configuration. It is permanent for those variables.
var ErrNoSpace = errors.New("environment full")

// ErrReadOnly is wrapped when a change would overwrite or delete a
// variable that U-Boot's .flags mark read-only or write-once.
var ErrReadOnly = errors.New("variable is read-only")

// ErrInvalidName is wrapped when a variable name or value cannot be
// stored: an empty name, '=' in a name, or a NUL byte anywhere.
var ErrInvalidName = errors.New("invalid variable")

// CRCError reports a copy whose stored CRC-32 does not match its data.
type CRCError struct {
	// Device and Offset locate the copy, as in fw_env.config.
	Device string
	Offset int64
	// Stored is the CRC in the copy's header, Computed the CRC of its
	// data area.
	Stored, Computed uint32
	// Erased is set when the whole copy reads as erased flash (0xFF):
	// it was never written, which is normal for the second copy of a
	// freshly flashed device.
	Erased bool
}

func (e *CRCError) Error() string {
	if e.Erased {
		return fmt.Sprintf("bootenv %s at %#x: erased (all 0xff), never written", e.Device, e.Offset)
	}
	return fmt.Sprintf("bootenv %s at %#x: crc32 of data is %#08x, header says %#08x (torn write, or wrong size or byte order in fw_env.config)",
		e.Device, e.Offset, e.Computed, e.Stored)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CRCError) Is(target error) bool { return target == ErrCorrupt }

// NoValidCopyError reports that no copy of the environment is valid. Errs
// holds one error per copy, in configuration order: a *CRCError, an error
// wrapping ErrCorrupt, or the I/O error that kept it from being read.
type NoValidCopyError struct {
	Errs []error
}

func (e *NoValidCopyError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return "bootenv: no valid environment copy: " + strings.Join(msgs, "; ")
}

// Unwrap returns the errors of the copies, so that errors.Is and errors.As
// see them.
func (e *NoValidCopyError) Unwrap() []error { return e.Errs }

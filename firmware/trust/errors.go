package trust

import (
	"errors"
	"fmt"
)

var (
	// ErrNotInitialized means the metadata directory has no trusted
	// root.json: run Init with the root shipped with the device first.
	ErrNotInitialized = errors.New("no trusted root: initialize the metadata directory with a root.json first")
	// ErrNotFound means the remote has no such file.
	ErrNotFound = errors.New("not found")
	// ErrTargetNotFound means no trusted role signs a target of that name
	// (or only a delegated role that is not trusted for its path does).
	ErrTargetNotFound = errors.New("target not found in trusted metadata")
	// ErrUnsupportedHash means a target lists a hash algorithm this package
	// cannot check; it is refused rather than half-verified.
	ErrUnsupportedHash = errors.New("unsupported hash algorithm")
	// ErrOffline means an operation needs a Remote and the Client has none.
	ErrOffline = errors.New("no remote repository configured")
)

// HashMismatchError means the bytes of a target do not hash to the signed
// value: the image was changed after signing, or corrupted.
type HashMismatchError struct {
	Target    string
	Algorithm string // "sha256", "sha512"
	Want, Got string // hex
}

func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("target %s: %s hash mismatch: signed %s, got %s", e.Target, e.Algorithm, e.Want, e.Got)
}

// LengthError means a file is not as long as it must be: a target longer
// or shorter than its signed length, or metadata over its size limit.
// Got is at least Want+1 when the file was cut off for being too long.
type LengthError struct {
	Name      string // target name or metadata file name
	Want, Got int64
}

func (e *LengthError) Error() string {
	if e.Got > e.Want {
		return fmt.Sprintf("%s: more than %d bytes (the signed length or size limit); stopped reading", e.Name, e.Want)
	}
	return fmt.Sprintf("%s: got %d bytes, want %d", e.Name, e.Got, e.Want)
}

// FetchError is a failed request to the remote. It wraps ErrNotFound for a
// missing file; other failures are worth a retry.
type FetchError struct {
	URL    string
	Status int // HTTP status, 0 when no response came
	Err    error
}

func (e *FetchError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("fetch %s: HTTP status %d: %v", e.URL, e.Status, e.Err)
	}
	return fmt.Sprintf("fetch %s: %v", e.URL, e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }

// Reasons a device may not install a target (see Check).
var (
	ErrNoMetadata      = errors.New("target has no valid patchbay metadata")
	ErrWrongKind       = errors.New("target is of another kind")
	ErrWrongBoard      = errors.New("target does not fit this board")
	ErrNotNewer        = errors.New("target is the installed version")
	ErrDowngrade       = errors.New("target is older than the installed version and its signed metadata does not allow a downgrade")
	ErrBelowMinVersion = errors.New("installed version is below the target's min_version")
	// ErrNoUpdate means no target is newer than the installed version and
	// allowed for the device.
	ErrNoUpdate = errors.New("no update for this device")
)

// RejectedError says why a device may not install one target. It wraps
// one of the reasons above.
type RejectedError struct {
	Target string
	Reason error
}

func (e *RejectedError) Error() string { return "target " + e.Target + ": " + e.Reason.Error() }

func (e *RejectedError) Unwrap() error { return e.Reason }

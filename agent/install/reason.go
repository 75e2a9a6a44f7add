package install

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"patchbay.dev/firmware/bootenv"
	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/slot"
	"patchbay.dev/firmware/trust"
)

// Reason says why an update ended as it did. Values are persisted and sent
// to the gateway; some carry a detail after a colon
// ("health-check-failed:web-ui").
type Reason string

// The reasons.
const (
	// ReasonInstalled is the reason of a committed update, and only of one.
	ReasonInstalled Reason = "installed"

	ReasonHealthCheckFailed Reason = "health-check-failed" // ":<check name>"
	ReasonBootLimit         Reason = "boot-limit-reached"  // the boot loader fell back to the old slot
	ReasonVerification      Reason = "verification-failed" // bytes differ from the signed length or hashes
	ReasonDownload          Reason = "download-failed"     // the repository could not deliver the image
	ReasonWrite             Reason = "write-failed"        // the slot or app directory could not be written
	ReasonDiskFull          Reason = "disk-full"
	ReasonTooLarge          Reason = "image-too-large" // larger than the slot or the app limit
	ReasonWrongBoard        Reason = "wrong-board"     // signed metadata does not list this board
	ReasonWrongKind         Reason = "wrong-kind"      // not a firmware or app target, or the board cannot take it
	ReasonBootEnvCorrupt    Reason = "bootenv-corrupt" // no valid copy of the U-Boot environment
	// ReasonBootEnvUnprepared means bootlimit or altbootcmd is missing:
	// provisioning sets them once, the agent never does.
	ReasonBootEnvUnprepared Reason = "bootenv-unprepared"
	// ReasonBootEnvMismatch means the environment does not select the
	// running slot, or a trial is pending that this agent did not start.
	ReasonBootEnvMismatch Reason = "bootenv-mismatch"
	ReasonBootEnvWrite    Reason = "bootenv-write-failed"
	ReasonSlotUnknown     Reason = "slot-unknown" // the running slot could not be told
	ReasonRebootFailed    Reason = "reboot-failed"
	ReasonRestartFailed   Reason = "restart-failed" // an app's service did not restart
	ReasonAppInvalid      Reason = "app-invalid"    // an app archive that breaks the format's rules
	ReasonTargetChanged   Reason = "target-changed" // signed length or hash differ from the journal's
	ReasonAttempts        Reason = "attempts-exceeded"
	ReasonJournalCorrupt  Reason = "journal-corrupt"
)

// With returns the reason with a detail: ReasonHealthCheckFailed.With("web-ui").
func (r Reason) With(detail string) Reason { return r + ":" + Reason(detail) }

// Base returns the reason without its detail.
func (r Reason) Base() Reason {
	base, _, _ := strings.Cut(string(r), ":")
	return Reason(base)
}

// Outcome is where an update stands, for callers and reporters.
type Outcome struct {
	ID          string    `json:"id"`
	Kind        meta.Kind `json:"kind"`
	Target      string    `json:"target"`
	Version     string    `json:"version"`
	FromVersion string    `json:"from_version,omitempty"`
	State       State     `json:"state"`
	Reason      Reason    `json:"reason,omitempty"`
	// Detail is the error text for people; empty on success.
	Detail string `json:"detail,omitempty"`
}

// Installed reports whether the update was committed.
func (o Outcome) Installed() bool { return o.State == StateCommitted }

// Error is an update that ended without installing: failed or rolled back.
// It wraps the error that decided it, if any.
type Error struct {
	Target string
	State  State // StateFailed or StateRolledBack
	Reason Reason
	Err    error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("install %s: %s (%s)", e.Target, e.State, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Sentinels callers branch on.
var (
	// ErrBusy means an update is in progress; Resume it first.
	ErrBusy = errors.New("an update is in progress")
	// ErrUnsupported is wrapped when a board or target cannot be
	// installed by this package (no A/B slots, MCUboot, agent targets).
	ErrUnsupported = errors.New("not supported")
)

// failure is an error with the reason it ends an update with, and whether
// trying again could help.
type failure struct {
	reason    Reason
	transient bool
	err       error
}

func (f *failure) Error() string { return string(f.reason) + ": " + f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// fail wraps err with the reason it fails an update for.
func fail(r Reason, err error) error { return &failure{reason: r, err: err} }

// retry wraps err with the reason an update fails for if retrying does not
// help in the end.
func retry(r Reason, err error) error { return &failure{reason: r, transient: true, err: err} }

// classify says which reason err ends an update with, and whether it is
// worth another attempt. Errors it does not know are transient, with
// reason def: the step that failed knows best what it was doing.
func classify(err error, def Reason) (Reason, bool) {
	var (
		f     *failure
		thash *trust.HashMismatchError
		tlen  *trust.LengthError
		shash *slot.HashMismatchError
		slen  *slot.LengthError
		fetch *trust.FetchError
		none  *bootenv.NoValidCopyError
	)
	switch {
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		return ReasonDiskFull, false
	case errors.As(err, &f):
		return f.reason, f.transient
	case errors.As(err, &thash):
		return ReasonVerification, false
	case errors.As(err, &tlen):
		// Short: the connection ended early. Long: not what was signed.
		if tlen.Got < tlen.Want {
			return ReasonDownload, true
		}
		return ReasonVerification, false
	case errors.As(err, &shash), errors.As(err, &slen):
		return ReasonWrite, true // the medium did not keep what was written
	case errors.Is(err, slot.ErrTooLarge):
		return ReasonTooLarge, false
	case errors.As(err, &fetch):
		return ReasonDownload, !errors.Is(err, trust.ErrNotFound)
	case errors.As(err, &none), errors.Is(err, bootenv.ErrCorrupt):
		return ReasonBootEnvCorrupt, false
	case errors.Is(err, trust.ErrTargetNotFound), errors.Is(err, trust.ErrOffline):
		return ReasonDownload, false
	}
	return def, true
}

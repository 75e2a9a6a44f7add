package install

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"patchbay.dev/boards"
	"patchbay.dev/firmware/bootenv"
	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/slot"
	"patchbay.dev/firmware/trust"
)

// BootEnv is the U-Boot environment; *bootenv.Store is one.
type BootEnv interface {
	Read(ctx context.Context) (bootenv.Env, error)
	// Apply writes all changes in one write, or none.
	Apply(ctx context.Context, c bootenv.Changes) (bool, error)
}

// Fetcher streams a signed target into w, verifying its length and hashes:
// prefix yields the bytes an earlier attempt wrote (hashed again, not
// written) and the rest comes with an HTTP range request. *trust.Client is
// one; a nil prefix downloads from the first byte.
type Fetcher interface {
	Resume(ctx context.Context, t trust.Target, w io.Writer, prefix io.Reader) error
}

// Rebooter restarts the device. Reboot returns once the reboot is asked
// for; the agent is stopped by it.
type Rebooter interface {
	Reboot(ctx context.Context) error
}

// RebootFunc is a Rebooter.
type RebootFunc func(ctx context.Context) error

// Reboot calls f.
func (f RebootFunc) Reboot(ctx context.Context) error { return f(ctx) }

// Reporter is told about progress and results; the MQTT reporter puts
// them into the outbox. Errors are logged, never fatal to an update.
// Results of an update may be reported again after a power cut.
type Reporter interface {
	Progress(ctx context.Context, p Progress) error
	Result(ctx context.Context, o Outcome) error
}

// Progress is one step of an update: a state entered or a download
// checkpoint.
type Progress struct {
	ID      string    `json:"id"`
	Kind    meta.Kind `json:"kind"`
	Target  string    `json:"target"`
	Version string    `json:"version"`
	State   State     `json:"state"`
	Attempt int       `json:"attempt"`
	Written int64     `json:"written"`
	Length  int64     `json:"length"`
}

// HTTPDoer sends HTTP requests; *http.Client is one.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// Options configure an Engine. Dir and Board are required; the rest is
// required for the kinds of update the device takes (see New).
type Options struct {
	// Dir is the agent's state directory; the journal lives in it.
	Dir   string
	Board *boards.Profile

	// Firmware (boards with a U-Boot A/B layout).

	// Env is the boot environment Board.Boot describes.
	Env BootEnv
	// Slots maps each of Board.Boot.Slots' names to where its image is
	// written. Wrap file and block-device slots with NewResumable so that
	// interrupted downloads continue where they stopped.
	Slots map[string]slot.Slot
	// Booted returns the value of Board.Boot.SlotVariable the running
	// system was booted with (see CmdlineBooted). Not the environment's
	// value: that changes before the reboot.
	Booted   func(ctx context.Context) (string, error)
	Rebooter Rebooter

	// Fetcher downloads targets; Lookup finds a target again by name
	// after a restart (see CachedLookup).
	Fetcher Fetcher
	Lookup  func(ctx context.Context, name string) (trust.Target, error)

	// Checks must pass in a trial before an update is committed (see
	// Checks). Roundtrip is the mqtt-roundtrip check: a message to the
	// gateway and its answer; if no check is of that kind, one named
	// "gateway" is added.
	Checks    []Check
	Roundtrip func(ctx context.Context) error
	// HTTPClient runs http checks; nil means one of the Engine's own
	// that uses no proxy.
	HTTPClient HTTPDoer

	Apps AppOptions

	Reporter Reporter         // nil: none
	Logger   *slog.Logger     // nil discards
	Now      func() time.Time // nil means time.Now

	// CheckpointBytes is how much of an image is downloaded between two
	// checkpoints (a sync of the slot and a journal write); 4 MiB if 0.
	CheckpointBytes int64
	// CheckpointInterval is the least time between two checkpoints: on a
	// fast link a power cut then costs at most this much downloading
	// again, and the syncs do not set the pace of the download. 1s if 0,
	// none if negative (a checkpoint every CheckpointBytes).
	CheckpointInterval time.Duration
	// TrialTimeout bounds the health checks of a trial; 5 minutes if 0.
	TrialTimeout time.Duration
	// CheckInterval is the pause between rounds of failing checks; 5s if 0.
	CheckInterval time.Duration
	// RetryWait is the pause before a download is tried again, times the
	// attempt; 5s if 0, none if negative.
	RetryWait time.Duration
}

// Engine runs updates through the state machine and persists every step.
// It is not safe for concurrent use, and one process at a time may use a
// state directory.
type Engine struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	jf    journalFile
	board *boards.Profile
	http  HTTPDoer

	// Per call: the signed target handed to Install, and whether the slot
	// was verified by this process since its write.
	target   *trust.Target
	verified bool

	// beforeSave, if set, runs before every journal write and skips it
	// with its error: tests cut the power there.
	beforeSave func(*Journal) error
}

// New checks the options. Firmware updates need Env, Slots for both of the
// board's slots, Booted and Rebooter on a U-Boot board; app updates need
// Apps.Dir; both need Fetcher and Lookup. What a kind lacks makes its
// installs fail with ErrUnsupported, not New.
func New(opts Options) (*Engine, error) {
	if opts.Dir == "" || opts.Board == nil {
		return nil, errors.New("install: Dir and Board are required")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("install: state directory: %w", err)
	}
	for _, c := range opts.Checks {
		if err := c.validate(opts.Roundtrip != nil); err != nil {
			return nil, fmt.Errorf("install: %w", err)
		}
	}
	e := &Engine{opts: opts, log: opts.Logger, now: opts.Now, jf: journalFile{dir: opts.Dir}, board: opts.Board, http: opts.HTTPClient}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.http == nil {
		e.http = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}
	if e.opts.CheckpointBytes <= 0 {
		e.opts.CheckpointBytes = 4 << 20
	}
	if e.opts.CheckpointInterval == 0 {
		e.opts.CheckpointInterval = time.Second
	}
	if e.opts.TrialTimeout <= 0 {
		e.opts.TrialTimeout = 5 * time.Minute
	}
	if e.opts.CheckInterval <= 0 {
		e.opts.CheckInterval = 5 * time.Second
	}
	if e.opts.RetryWait == 0 {
		e.opts.RetryWait = 5 * time.Second
	}
	if !slices.ContainsFunc(e.opts.Checks, func(c Check) bool { return c.Kind == CheckRoundtrip }) && e.opts.Roundtrip != nil {
		e.opts.Checks = append(slices.Clip(e.opts.Checks), Check{Name: "gateway", Kind: CheckRoundtrip})
	}
	if len(e.opts.Checks) == 0 {
		e.log.Warn("no health checks: a trial boot commits as soon as the agent runs on it", "board", opts.Board.ID)
	}
	return e, nil
}

// Request is an update to install.
type Request struct {
	// Target is the signed target, as trust selected it.
	Target trust.Target
	// FromVersion is the version running now, for reports; apps read it
	// from their "current" link when it is empty.
	FromVersion string
}

// Status returns the journal, or nil if no update was ever started.
func (e *Engine) Status() (*Journal, error) { return e.jf.load() }

// Install starts an update and runs it as far as it goes without a
// reboot: a firmware update returns in state rebooting once the reboot is
// asked for (call Resume after it), an app update runs to its end. An
// update that cannot go ahead (wrong board, corrupt boot environment, a
// download that does not verify…) is recorded as failed and returned as
// an *Error with its reason; the running system is untouched. Install
// fails with ErrBusy while another update is in progress.
func (e *Engine) Install(ctx context.Context, req Request) (Outcome, error) {
	old, err := e.loadForStart(ctx)
	if err != nil {
		return Outcome{}, err
	}
	if old != nil && !old.State.Final() {
		return old.Outcome(), fmt.Errorf("install %s: %w: %s of %s", req.Target.Name, ErrBusy, old.State, old.Target.Name)
	}
	if err := e.jf.removeTemps(); err != nil {
		return Outcome{}, fmt.Errorf("install %s: %w", req.Target.Name, err)
	}
	j := e.newJournal(req)
	e.target, e.verified = &req.Target, false
	defer func() { e.target = nil }()
	if err := e.preflight(ctx, j, req.Target); err != nil {
		if ctx.Err() != nil {
			return j.Outcome(), err
		}
		reason, _ := classify(err, ReasonWrongKind)
		if err := e.advance(ctx, j, StateFailed, reason, err); err != nil {
			return j.Outcome(), err
		}
		return e.finish(ctx, j)
	}
	if err := e.advance(ctx, j, StateDownloading, "", nil); err != nil {
		return j.Outcome(), err
	}
	return e.run(ctx, j)
}

// Resume continues the update the journal records, after a restart of the
// agent or a reboot: a download continues from its checkpoint, a trial
// boot is checked and committed or rolled back. With no update in
// progress it returns the last outcome (StateIdle if there was none) and
// no error; an unfinished report is sent again. Each call counts as an
// attempt of the current state: after a reboot was asked for, call it
// once the system has restarted, not while waiting for the reboot.
func (e *Engine) Resume(ctx context.Context) (Outcome, error) {
	j, err := e.jf.load()
	if errors.Is(err, ErrJournalCorrupt) {
		aside, aerr := e.jf.setAside(e.now())
		o := Outcome{State: StateFailed, Reason: ReasonJournalCorrupt, Detail: err.Error()}
		e.log.Error("journal unreadable, set aside; the boot environment is left to the boot loader", "path", aside, "err", err)
		e.result(ctx, o)
		return o, errors.Join(err, aerr)
	}
	if err != nil {
		return Outcome{}, err
	}
	if j == nil {
		return Outcome{State: StateIdle}, nil
	}
	if j.State.Final() {
		if !j.Reported {
			_, err := e.finish(ctx, j)
			var ue *Error
			if errors.As(err, &ue) {
				err = nil // the outcome was already decided; nothing failed now
			}
			return j.Outcome(), err
		}
		return j.Outcome(), nil
	}
	if err := e.jf.removeTemps(); err != nil {
		return j.Outcome(), err
	}
	e.target, e.verified = nil, false
	defer func() { e.target = nil }()
	if err := e.again(ctx, j); err != nil {
		return j.Outcome(), err
	}
	return e.run(ctx, j)
}

// loadForStart loads the journal before a new update, setting aside one
// that cannot be read.
func (e *Engine) loadForStart(ctx context.Context) (*Journal, error) {
	j, err := e.jf.load()
	if errors.Is(err, ErrJournalCorrupt) {
		aside, aerr := e.jf.setAside(e.now())
		if aerr != nil {
			return nil, errors.Join(err, aerr)
		}
		e.log.Warn("journal unreadable, set aside", "path", aside, "err", err)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if j != nil && j.State.Final() && !j.Reported {
		e.result(ctx, j.Outcome())
	}
	return j, nil
}

func (e *Engine) newJournal(req Request) *Journal {
	var id [8]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	t := req.Target
	j := &Journal{
		Version:     JournalVersion,
		ID:          hex.EncodeToString(id[:]),
		State:       StateIdle,
		Attempts:    map[State]int{},
		Target:      TargetRef{Name: t.Name, Length: t.Length, SHA256: hex.EncodeToString(t.Hashes["sha256"])},
		FromVersion: req.FromVersion,
		Started:     e.now().UTC(),
	}
	if t.Meta != nil {
		j.Kind, j.Target.Version = t.Meta.Kind, t.Meta.Version
	}
	return j
}

// transition is what a state's work decided.
type transition struct {
	to     State
	reason Reason
	err    error // why, for people
	// wait: the work is done and the device is restarting; stop here.
	wait bool
}

// run works through the states until the update ends or waits for a
// reboot.
func (e *Engine) run(ctx context.Context, j *Journal) (Outcome, error) {
	for !j.State.Final() {
		var (
			tr  transition
			err error
		)
		switch j.Kind {
		case meta.KindFirmware:
			tr, err = e.stepFirmware(ctx, j)
		case meta.KindApp:
			tr, err = e.stepApp(ctx, j)
		default:
			err = fmt.Errorf("%w: updates of kind %q", ErrUnsupported, j.Kind)
		}
		if err != nil {
			return j.Outcome(), err
		}
		if tr.wait {
			return j.Outcome(), nil
		}
		if err := e.advance(ctx, j, tr.to, tr.reason, tr.err); err != nil {
			return j.Outcome(), err
		}
	}
	return e.finish(ctx, j)
}

// advance persists the move to state to, then reports it. It keeps the
// reason of a rolling-back update when it becomes rolled-back.
func (e *Engine) advance(ctx context.Context, j *Journal, to State, reason Reason, why error) error {
	// A target that cannot be installed at all fails before its kind
	// has a state machine.
	if j.State != StateIdle || to != StateFailed {
		if err := checkTransition(j.Kind, j.State, to); err != nil {
			return err
		}
	}
	from := j.State
	j.State = to
	if j.Attempts == nil {
		j.Attempts = map[State]int{}
	}
	j.Attempts[to]++
	switch {
	case reason != "":
		j.Reason = reason
	case to == StateCommitted:
		j.Reason, j.Detail = ReasonInstalled, ""
	}
	if why != nil {
		j.Detail = why.Error()
	}
	if err := e.save(j); err != nil {
		if to.Final() {
			// The outcome cannot be recorded (a full state directory):
			// tell the gateway at least; the journal keeps the last state.
			o := j.Outcome()
			o.Detail = strings.TrimPrefix(o.Detail+"; not recorded: "+err.Error(), "; ")
			e.result(ctx, o)
		}
		j.State = from
		return err
	}
	e.log.Info("update state", "target", j.Target.Name, "to_version", j.Target.Version, "phase", string(to),
		"from_phase", string(from), "reason", string(j.Reason), "attempt", j.Attempts[to])
	e.progress(ctx, j)
	return nil
}

// again counts one more attempt at the current state's work, or moves the
// update on if the attempts are used up.
func (e *Engine) again(ctx context.Context, j *Journal) error {
	n := j.Attempts[j.State]
	if ok, exhausted := attemptsLeft(j.Kind, j.State, n); !ok {
		e.log.Warn("attempts used up", "phase", string(j.State), "attempt", n, "target", j.Target.Name)
		return e.advance(ctx, j, exhausted, ReasonAttempts.With(string(j.State)),
			fmt.Errorf("%s was tried %d times", j.State, n))
	}
	if j.Attempts == nil {
		j.Attempts = map[State]int{}
	}
	j.Attempts[j.State] = n + 1
	if err := e.save(j); err != nil {
		return err
	}
	e.log.Info("update resumed", "target", j.Target.Name, "phase", string(j.State), "attempt", n+1)
	e.progress(ctx, j)
	return nil
}

func (e *Engine) save(j *Journal) error {
	if e.beforeSave != nil {
		if err := e.beforeSave(j); err != nil {
			return err
		}
	}
	j.Version = JournalVersion
	j.Updated = e.now().UTC()
	return e.jf.save(j)
}

// finish reports the final outcome once and returns it; an update that
// did not install is an *Error.
func (e *Engine) finish(ctx context.Context, j *Journal) (Outcome, error) {
	o := j.Outcome()
	if j.State == StateFailed && j.Kind == meta.KindApp && j.App != nil {
		e.removeFailedApp(j)
	}
	if !j.Reported {
		e.result(ctx, o)
		j.Reported = true
		if err := e.save(j); err != nil {
			return o, err
		}
	}
	if o.State == StateCommitted {
		return o, nil
	}
	var why error
	if j.Detail != "" {
		why = errors.New(j.Detail)
	}
	return o, &Error{Target: j.Target.Name, State: j.State, Reason: j.Reason, Err: why}
}

func (e *Engine) progress(ctx context.Context, j *Journal) {
	if e.opts.Reporter == nil {
		return
	}
	p := Progress{ID: j.ID, Kind: j.Kind, Target: j.Target.Name, Version: j.Target.Version, State: j.State,
		Attempt: j.Attempts[j.State], Written: j.Written, Length: j.Target.Length}
	if err := e.opts.Reporter.Progress(ctx, p); err != nil {
		e.log.Warn("progress not reported", "phase", string(j.State), "err", err)
	}
}

func (e *Engine) result(ctx context.Context, o Outcome) {
	lvl := slog.LevelInfo
	if o.State != StateCommitted {
		lvl = slog.LevelWarn
	}
	e.log.Log(ctx, lvl, "update finished", "target", o.Target, "to_version", o.Version, "from_version", o.FromVersion,
		"phase", string(o.State), "reason", string(o.Reason))
	if e.opts.Reporter == nil {
		return
	}
	if err := e.opts.Reporter.Result(ctx, o); err != nil {
		e.log.Warn("result not reported", "phase", string(o.State), "err", err)
	}
}

// preflight checks what can be checked before anything is written.
func (e *Engine) preflight(ctx context.Context, j *Journal, t trust.Target) error {
	if t.Meta == nil {
		return fail(ReasonWrongKind, fmt.Errorf("target %s has no patchbay metadata: %v", t.Name, t.MetaErr))
	}
	if !t.Meta.Fits(e.board.ID) {
		return fail(ReasonWrongBoard, fmt.Errorf("target %s fits %v, this device is %s", t.Name, t.Meta.Boards, e.board.ID))
	}
	if len(t.Hashes["sha256"]) != 32 {
		return fail(ReasonVerification, fmt.Errorf("target %s has no signed sha256, which the read-back check needs", t.Name))
	}
	if e.opts.Fetcher == nil || e.opts.Lookup == nil {
		return fail(ReasonWrongKind, fmt.Errorf("%w: no Fetcher or Lookup configured", ErrUnsupported))
	}
	switch t.Meta.Kind {
	case meta.KindFirmware:
		return e.preflightFirmware(ctx, j, t)
	case meta.KindApp:
		return e.preflightApp(ctx, j, t)
	}
	return fail(ReasonWrongKind, fmt.Errorf("%w: %s targets are not installed here", ErrUnsupported, t.Meta.Kind))
}

// signedTarget returns the target of the update: the one handed to
// Install, or after a restart the one trusted metadata signs under the
// same name, which must still be the same image.
func (e *Engine) signedTarget(ctx context.Context, j *Journal) (trust.Target, error) {
	if e.target != nil {
		return *e.target, nil
	}
	t, err := e.opts.Lookup(ctx, j.Target.Name)
	if err != nil {
		return trust.Target{}, retry(ReasonDownload, fmt.Errorf("look up %s in trusted metadata: %w", j.Target.Name, err))
	}
	if t.Length != j.Target.Length || hex.EncodeToString(t.Hashes["sha256"]) != j.Target.SHA256 {
		return trust.Target{}, fail(ReasonTargetChanged, fmt.Errorf("%s is now signed with %d bytes, sha256 %x; the update started with %d bytes, sha256 %s",
			t.Name, t.Length, t.Hashes["sha256"], j.Target.Length, j.Target.SHA256))
	}
	e.target = &t
	return t, nil
}

package bootenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
)

// Store reads and writes the environment a Config describes. It opens the
// devices for each operation and closes them after, and holds the lock
// file while it works.
type Store struct {
	cfg    Config
	layout layout
	open   opener
	mu     sync.Mutex // serialises this process; the lock file, others
}

// Open reads the fw_env.config file at configPath (DefaultConfigPath on a
// device) and returns a Store for it.
func Open(configPath string) (*Store, error) {
	cfg, err := LoadConfig(configPath)
	if err != nil {
		return nil, err
	}
	return New(cfg)
}

// New returns a Store for cfg.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Store{cfg: cfg, layout: cfg.layout(), open: openMedium}, nil
}

// Config returns the store's configuration.
func (s *Store) Config() Config { return s.cfg }

// CopyState is what a Load found in one copy.
type CopyState struct {
	Location Location
	// Flag is the copy's flag byte as stored (redundant environments
	// only); it orders the copies only if the copy is valid.
	Flag byte
	// Err is nil for a valid copy; otherwise a *CRCError, an error
	// wrapping ErrCorrupt, or the error that kept the copy from being
	// read.
	Err error
}

// Snapshot is the environment as Load found it.
type Snapshot struct {
	// Env is the environment of the active copy; empty if none is valid.
	Env Env
	// Active is the index in Copies of the copy in use, or -1.
	Active int
	Copies []CopyState
}

// Problems returns the errors of the copies that are not valid, joined,
// or nil. A redundant environment that works but has one bad copy is
// worth a warning: one more torn write and the device boots defaults.
func (s Snapshot) Problems() error {
	var errs []error
	for _, c := range s.Copies {
		if c.Err != nil {
			errs = append(errs, c.Err)
		}
	}
	return errors.Join(errs...)
}

// Load reads every copy and picks the active one. If no copy is valid it
// returns the Snapshot and a *NoValidCopyError.
func (s *Store) Load(ctx context.Context) (Snapshot, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return Snapshot{Active: -1}, err
	}
	defer unlock()
	snap, _, err := s.load(ctx)
	return snap, err
}

// Read returns the environment of the active copy, falling back to the
// other copy of a redundant environment when one is corrupt (Load tells
// which). If no copy is valid it returns a *NoValidCopyError.
func (s *Store) Read(ctx context.Context) (Env, error) {
	snap, err := s.Load(ctx)
	return snap.Env, err
}

// Apply makes all changes in one write of the environment, as fw_setenv -s
// does: committing an update sets bootcount and upgrade_available together
// or not at all. It does not write when nothing would change, and reports
// whether it wrote. It fails if no copy is valid (a *NoValidCopyError: use
// Write to start a new environment) or a copy cannot be read, rather than
// risk replacing a newer environment it could not see.
func (s *Store) Apply(ctx context.Context, changes Changes) (bool, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	snap, scheme, err := s.load(ctx)
	if err != nil {
		return false, fmt.Errorf("bootenv apply: %w", err)
	}
	for _, c := range snap.Copies {
		if c.Err != nil && !errors.Is(c.Err, ErrCorrupt) {
			return false, fmt.Errorf("bootenv apply: %w", c.Err)
		}
	}
	next, err := changes.applyTo(snap.Env)
	if err != nil {
		return false, fmt.Errorf("bootenv apply: %w", err)
	}
	if next.Equal(snap.Env) {
		return false, nil
	}
	if err := s.write(ctx, snap, scheme, next); err != nil {
		return false, fmt.Errorf("bootenv apply: %w", err)
	}
	return true, nil
}

// Write replaces the whole environment with env, whatever the copies
// hold, even when none is valid — as fw_setenv does with its default
// environment on a blank device. It always writes.
func (s *Store) Write(ctx context.Context, env Env) error {
	for name, value := range env.All() {
		if err := checkVar(name, value); err != nil {
			return fmt.Errorf("bootenv write: %w", err)
		}
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	snap, scheme, err := s.load(ctx)
	var none *NoValidCopyError
	if err != nil && !errors.As(err, &none) {
		return fmt.Errorf("bootenv write: %w", err)
	}
	if err := s.write(ctx, snap, scheme, env); err != nil {
		return fmt.Errorf("bootenv write: %w", err)
	}
	return nil
}

func (s *Store) lock(ctx context.Context) (func(), error) {
	s.mu.Lock()
	if s.cfg.DisableLock {
		return s.mu.Unlock, nil
	}
	release, err := lock(ctx, s.cfg.lockPath())
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	return func() {
		// Closing the lock file releases the flock; a failure to
		// close a file opened for locking loses nothing.
		_ = release()
		s.mu.Unlock()
	}, nil
}

// load reads and decodes every copy. The error is a *NoValidCopyError if
// none is valid, or a configuration problem that makes the copies
// unusable together.
func (s *Store) load(ctx context.Context) (Snapshot, flagScheme, error) {
	snap := Snapshot{Active: -1, Copies: make([]CopyState, len(s.cfg.Copies))}
	var (
		valid   [2]bool
		flags   [2]byte
		envs    [2]Env
		schemes []flagScheme
	)
	for i, loc := range s.cfg.Copies {
		st := &snap.Copies[i]
		st.Location = loc
		env, flag, scheme, err := s.readCopy(ctx, loc)
		if scheme != nil {
			schemes = append(schemes, *scheme)
		}
		st.Flag = flag
		if err != nil {
			st.Err = err
			continue
		}
		valid[i], flags[i], envs[i] = true, flag, env
	}
	scheme := incremental
	if len(schemes) > 0 {
		scheme = schemes[0]
	}
	if len(schemes) == 2 && schemes[0] != schemes[1] {
		return snap, scheme, fmt.Errorf("bootenv: copies use %s and %s flags; both must be on the same kind of device",
			schemes[0], schemes[1])
	}
	if err := ctx.Err(); err != nil {
		return snap, scheme, err
	}
	if !s.cfg.Redundant() {
		valid[1] = false
	}
	snap.Active = activeCopy(scheme, valid, flags)
	if snap.Active < 0 {
		errs := make([]error, len(snap.Copies))
		for i, c := range snap.Copies {
			errs[i] = c.Err
		}
		return snap, scheme, &NoValidCopyError{Errs: errs}
	}
	snap.Env = envs[snap.Active]
	return snap, scheme, nil
}

// readCopy reads and decodes the copy at loc. The scheme is known once the
// device is open, even if the copy then turns out corrupt.
func (s *Store) readCopy(ctx context.Context, loc Location) (env Env, flag byte, scheme *flagScheme, err error) {
	m, err := s.open(ctx, loc, false)
	if err != nil {
		return Env{}, 0, nil, err
	}
	defer m.close()
	sc := m.scheme()
	img := make([]byte, s.layout.size)
	if err := m.read(ctx, img); err != nil {
		return Env{}, 0, &sc, err
	}
	if s.layout.redundant {
		flag = img[4] // kept for a corrupt copy too, as the next flag counts from it
	}
	env, _, err = decodeCopy(img, s.layout)
	if ce, ok := errors.AsType[*CRCError](err); ok {
		ce.Device, ce.Offset = loc.Device, loc.Offset
	} else if err != nil {
		err = fmt.Errorf("bootenv %s: %w", loc, err)
	}
	return env, flag, &sc, err
}

// write stores env in the copy not in use (the only copy of a single
// environment), reads it back, and on NOR marks the old copy obsolete.
func (s *Store) write(ctx context.Context, snap Snapshot, scheme flagScheme, env Env) error {
	cur, target := 0, 0
	if s.cfg.Redundant() {
		cur = max(snap.Active, 0) // neither valid: as if copy 0 were
		target = 1 - cur
	}
	img, err := encodeCopy(env, nextFlag(scheme, snap.Copies[cur].Flag), s.layout)
	if err != nil {
		return err
	}
	loc := s.cfg.Copies[target]
	m, err := s.open(ctx, loc, true)
	if err != nil {
		return err
	}
	err = m.write(ctx, img, s.layout.headerSize())
	if err == nil {
		back := make([]byte, len(img))
		if err = m.read(ctx, back); err == nil && !bytes.Equal(back, img) {
			err = fmt.Errorf("bootenv %s: read back after writing differs from what was written", loc)
		}
	}
	if cerr := m.close(); err == nil && cerr != nil {
		err = fmt.Errorf("bootenv %s: close: %w", loc, cerr)
	}
	if err != nil || !s.cfg.Redundant() || scheme != boolean {
		return err
	}
	old, err := s.open(ctx, s.cfg.Copies[cur], true)
	if err != nil {
		return fmt.Errorf("new environment written, old copy not marked obsolete: %w", err)
	}
	err = old.markObsolete(ctx)
	if cerr := old.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("new environment written, old copy not marked obsolete: %w", err)
	}
	return nil
}

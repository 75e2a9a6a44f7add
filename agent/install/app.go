package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"patchbay.dev/firmware/atomicfile"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"patchbay.dev/firmware/slot"
	"patchbay.dev/firmware/trust"
)

// AppOptions say where apps live and how their services restart.
type AppOptions struct {
	// Dir holds one directory per app: <Dir>/<name>/<version>/ for each
	// installed version and <Dir>/<name>/current, a symlink to the version
	// that runs. Empty: app updates are not supported.
	Dir string
	// Restart is the command that restarts an app's service, as argv;
	// "{app}" and "{version}" in it are replaced. Empty: no restart (the
	// service follows "current" itself).
	Restart []string
	// RestartTimeout bounds Restart; 1 minute if 0.
	RestartTimeout time.Duration
	// MaxBytes bounds what one app unpacks to; 256 MiB if 0.
	MaxBytes int64
}

// currentLink is the symlink to the running version of an app.
const currentLink = "current"

var (
	appNamePattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	appVersionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$`)
)

// AppName returns the app a target installs: the name of the directory
// the target lies in ("apps/mqtt-bridge/mqtt-bridge-1.2.0.tar" is
// "mqtt-bridge"), lower-case letters, digits, '.', '_' and '-'.
func AppName(target string) (string, error) {
	name := path.Base(path.Dir(target))
	if !appNamePattern.MatchString(name) || name == "." || name == ".." {
		return "", fmt.Errorf("target %s: app targets lie in a directory named after the app (apps/NAME/FILE), and %q is not an app name", target, name)
	}
	return name, nil
}

func (e *Engine) appDir(name string) string { return filepath.Join(e.opts.Apps.Dir, name) }

func (e *Engine) archivePath(j *Journal) string {
	return filepath.Join(e.appDir(j.App.Name), "."+j.Target.Version+".archive")
}

// archive is the slot an app's archive is downloaded into.
func (e *Engine) archive(j *Journal) slot.Slot {
	f := slot.NewFile("app "+j.App.Name, e.archivePath(j), j.Target.Length)
	return NewResumable(f, filepath.Join(e.opts.Dir, "app-archive.head"))
}

// currentVersion returns the version "current" points to; "" if none.
func (e *Engine) currentVersion(name string) (string, error) {
	target, err := os.Readlink(filepath.Join(e.appDir(name), currentLink))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return filepath.Base(target), nil
}

func (e *Engine) preflightApp(_ context.Context, j *Journal, t trust.Target) error {
	if e.opts.Apps.Dir == "" {
		return fail(ReasonWrongKind, fmt.Errorf("%w: no apps directory configured", ErrUnsupported))
	}
	name, err := AppName(t.Name)
	if err != nil {
		return fail(ReasonAppInvalid, err)
	}
	if !appVersionPattern.MatchString(t.Meta.Version) {
		return fail(ReasonAppInvalid, fmt.Errorf("app version %q cannot name a directory (letters, digits, '.', '_', '+', '~', '-')", t.Meta.Version))
	}
	j.App = &AppJournal{Name: name}
	if err := os.MkdirAll(e.appDir(name), 0o755); err != nil {
		return fail(ReasonWrite, fmt.Errorf("app directory: %w", err))
	}
	cur, err := e.currentVersion(name)
	if err != nil {
		return fail(ReasonWrite, fmt.Errorf("app %s: %w", name, err))
	}
	if cur == t.Meta.Version {
		return fail(ReasonAppInvalid, fmt.Errorf("app %s %s is already the current version", name, cur))
	}
	if j.FromVersion == "" {
		j.FromVersion = cur
	}
	maxBytes := e.maxAppBytes()
	if t.Length > maxBytes {
		return fail(ReasonTooLarge, fmt.Errorf("app %s archive is %d bytes, the limit is %d", name, t.Length, maxBytes))
	}
	// A directory of this version left by an earlier, failed update is
	// not this update's: unpack afresh.
	if err := os.RemoveAll(filepath.Join(e.appDir(name), t.Meta.Version)); err != nil {
		return fail(ReasonWrite, err)
	}
	return nil
}

func (e *Engine) maxAppBytes() int64 {
	if e.opts.Apps.MaxBytes > 0 {
		return e.opts.Apps.MaxBytes
	}
	return 256 << 20
}

// stepApp does the work of the current state of an app update.
func (e *Engine) stepApp(ctx context.Context, j *Journal) (transition, error) {
	if e.opts.Apps.Dir == "" || j.App == nil {
		return e.settle(ctx, j, fail(ReasonWrongKind, fmt.Errorf("%w: no apps directory configured", ErrUnsupported)))
	}
	dir := e.appDir(j.App.Name)
	version := filepath.Join(dir, j.Target.Version)
	switch j.State {
	case StateDownloading:
		if err := e.appDownload(ctx, j, version); err != nil {
			return e.settle(ctx, j, err)
		}
		return transition{to: StateStaged}, nil
	case StateStaged:
		if _, err := os.Stat(version); err != nil {
			j.Written = 0
			return transition{to: StateDownloading, err: fmt.Errorf("unpacked app is gone, downloading again: %w", err)}, nil
		}
		cur, err := e.currentVersion(j.App.Name)
		if err != nil {
			return e.settle(ctx, j, fail(ReasonWrite, err))
		}
		j.App.Previous = cur // persisted with the move to switching
		return transition{to: StateSwitching}, nil
	case StateSwitching:
		if err := swapLink(dir, j.Target.Version); err != nil {
			return e.settle(ctx, j, fail(ReasonWrite, fmt.Errorf("switch app %s: %w", j.App.Name, err)))
		}
		return transition{to: StateRestarting}, nil
	case StateRestarting:
		if err := e.restartApp(ctx, j.App.Name, j.Target.Version); err != nil {
			if ctx.Err() != nil {
				return transition{}, err
			}
			return transition{to: StateRollingBack, reason: ReasonRestartFailed, err: err}, nil
		}
		return transition{to: StateTrial}, nil
	case StateTrial:
		name, err := e.healthy(ctx)
		if ctx.Err() != nil {
			return transition{}, ctx.Err()
		}
		if err != nil {
			return transition{to: StateRollingBack, reason: ReasonHealthCheckFailed.With(name), err: err}, nil
		}
		return transition{to: StateCommitting}, nil
	case StateCommitting:
		e.pruneApp(j)
		return transition{to: StateCommitted}, nil
	case StateRollingBack:
		return e.appRollBack(ctx, j, dir, version)
	}
	return e.settle(ctx, j, fmt.Errorf("app update in unexpected state %s", j.State))
}

// appDownload downloads the archive, verifies it and unpacks it into its
// version directory, which appears (by rename) only once complete.
func (e *Engine) appDownload(ctx context.Context, j *Journal, version string) error {
	if _, err := os.Stat(version); err == nil {
		return nil // unpacked before the last stop
	}
	archive := e.archive(j)
	if err := e.fetchInto(ctx, j, archive); err != nil {
		return err
	}
	tmp := version + ".unpacking"
	if err := os.RemoveAll(tmp); err != nil {
		return fail(ReasonWrite, err)
	}
	if err := extractApp(ctx, e.archivePath(j), tmp, e.maxAppBytes()); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, version); err != nil {
		return fail(ReasonWrite, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(version)); err != nil {
		return fail(ReasonWrite, err)
	}
	e.log.Info("app unpacked", "app", j.App.Name, "to_version", j.Target.Version)
	return nil
}

// swapLink points dir/current at version atomically: a new symlink beside
// it, renamed over it, and the directory synced.
func swapLink(dir, version string) error {
	tmp := filepath.Join(dir, "."+currentLink+".tmp")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Symlink(version, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, currentLink)); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}

// restartApp runs the configured restart command.
func (e *Engine) restartApp(ctx context.Context, name, version string) error {
	if len(e.opts.Apps.Restart) == 0 {
		return nil
	}
	argv := make([]string, len(e.opts.Apps.Restart))
	for i, a := range e.opts.Apps.Restart {
		argv[i] = strings.NewReplacer("{app}", name, "{version}", version).Replace(a)
	}
	timeout := e.opts.Apps.RestartTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := runCommand(rctx, argv); err != nil {
		return fmt.Errorf("restart app %s: %w", name, err)
	}
	return nil
}

// appRollBack points "current" back at the previous version (or removes
// it for a first install), restarts the service and removes the new one.
func (e *Engine) appRollBack(ctx context.Context, j *Journal, dir, version string) (transition, error) {
	var err error
	if j.App.Previous == "" {
		err = os.Remove(filepath.Join(dir, currentLink))
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		if err == nil {
			err = atomicfile.SyncDir(dir)
		}
	} else {
		err = swapLink(dir, j.App.Previous)
	}
	if err != nil {
		return transition{}, retry(ReasonWrite, fmt.Errorf("roll back app %s: %w", j.App.Name, err))
	}
	if j.App.Previous != "" {
		if err := e.restartApp(ctx, j.App.Name, j.App.Previous); err != nil {
			if ctx.Err() != nil {
				return transition{}, err
			}
			e.log.Error("old version restored but its service did not restart", "app", j.App.Name, "to_version", j.App.Previous, "err", err)
		}
	}
	if err := os.RemoveAll(version); err != nil {
		e.log.Warn("failed version not removed", "app", j.App.Name, "err", err)
	}
	if err := os.Remove(e.archivePath(j)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.log.Warn("archive not removed", "app", j.App.Name, "err", err)
	}
	return transition{to: StateRolledBack}, nil
}

// removeFailedApp removes what an app update that failed before its
// switch left: the archive and the unpacked version. What it cannot remove
// is logged and left.
func (e *Engine) removeFailedApp(j *Journal) {
	if e.opts.Apps.Dir == "" || !appVersionPattern.MatchString(j.Target.Version) {
		return
	}
	if cur, err := e.currentVersion(j.App.Name); err != nil || cur == j.Target.Version {
		return // refused because it is installed: nothing of this update to remove
	}
	version := filepath.Join(e.appDir(j.App.Name), j.Target.Version)
	for _, p := range []string{e.archivePath(j), version + ".unpacking", version} {
		if err := os.RemoveAll(p); err != nil {
			e.log.Warn("leftover of a failed app update not removed", "app", j.App.Name, "path", p, "err", err)
		}
	}
}

// pruneApp removes the archive and every version but the current and the
// previous one. What it cannot remove is logged and left.
func (e *Engine) pruneApp(j *Journal) {
	if err := os.Remove(e.archivePath(j)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.log.Warn("archive not removed", "app", j.App.Name, "err", err)
	}
	entries, err := os.ReadDir(e.appDir(j.App.Name))
	if err != nil {
		e.log.Warn("old versions not pruned", "app", j.App.Name, "err", err)
		return
	}
	for _, d := range entries {
		n := d.Name()
		if n == currentLink || n == j.Target.Version || n == j.App.Previous || !d.IsDir() {
			continue
		}
		if err := os.RemoveAll(filepath.Join(e.appDir(j.App.Name), n)); err != nil {
			e.log.Warn("old version not removed", "app", j.App.Name, "version", n, "err", err)
		}
	}
}

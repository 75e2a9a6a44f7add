package daemon

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"patchbay.dev/agent/install"
	"patchbay.dev/boards"
	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/firmware/trust"
)

// ErrNotApproved is a target's refusal by the local policy.
var ErrNotApproved = errors.New("not approved by policy")

// checkAndInstall refreshes the TUF metadata, chooses the target the
// device should run and installs it. The gateway's assignment, when there
// is one, wins over the local choice; either is still checked against the
// signed metadata (board, kind, version, downgrade).
func (d *Daemon) checkAndInstall(ctx context.Context) error {
	if d.engine == nil {
		return nil
	}
	sess, err := d.tuf.Refresh(ctx)
	if err != nil {
		return fmt.Errorf("refresh update metadata: %w", err)
	}
	defer sess.Close()
	dev := trust.Device{Board: d.profile.ID, Kind: meta.KindFirmware, Installed: d.selfVersion(), Scheme: d.profile.Version.Scheme}

	var target trust.Target
	d.mu.Lock()
	desired := d.desired
	d.mu.Unlock()
	if desired != nil && desired.Target != "" {
		if !desired.NotAfter.IsZero() && time.Now().After(desired.NotAfter) {
			return fmt.Errorf("assignment %d of %s expired at %s", desired.Revision, desired.Target, desired.NotAfter)
		}
		if target, err = sess.Target(ctx, desired.Target); err != nil {
			return fmt.Errorf("assigned target: %w", err)
		}
		if err := trust.Check(target, dev); err != nil {
			if errors.Is(err, trust.ErrNotNewer) {
				return nil // already runs it
			}
			return fmt.Errorf("assigned target: %w", err)
		}
	} else {
		targets, err := sess.Targets(ctx)
		if err != nil {
			return err
		}
		target, err = trust.Select(targets, dev, d.approve)
		if errors.Is(err, trust.ErrNoUpdate) {
			d.log.Debug("no update", "board", dev.Board, "from_version", dev.Installed)
			return nil
		}
		if err != nil {
			return err
		}
	}
	d.log.Info("update chosen", "target", target.Name, "from_version", dev.Installed, "to_version", target.Meta.Version)
	out, err := d.engine.Install(ctx, install.Request{Target: target, FromVersion: dev.Installed})
	d.noteOutcome(out)
	d.publishState(ctx)
	if rebooting(out) {
		return ErrRebootRequested
	}
	if err != nil && !isUpdateError(err) {
		return err
	}
	return nil
}

// approve is the local policy: an update installs without an operator when
// its severity reaches policy.auto_approve or it closes a known-exploited
// vulnerability. Configured maintenance windows hand the decision to the
// gateway, which schedules installs inside them.
//
// A target this device already tried and rolled back (the same name and
// signed hash) is not chosen again: it would fail the same way, and every
// start and every refresh would take the device through another trial
// boot. A newer target, or the gateway's assignment, is still installed.
func (d *Daemon) approve(t trust.Target) error {
	if j, err := d.engine.Status(); err == nil && j != nil && j.State == install.StateRolledBack &&
		j.Target.Name == t.Name && j.Target.SHA256 == hex.EncodeToString(t.Hashes["sha256"]) {
		return fmt.Errorf("%w: %s was rolled back on this device (%s)", ErrNotApproved, t.Name, j.Reason)
	}
	if len(d.cfg.Policy.Windows) > 0 {
		return fmt.Errorf("%w: maintenance windows are configured; the gateway assigns updates", ErrNotApproved)
	}
	threshold, err := meta.ParseSeverity(d.cfg.Policy.AutoApprove)
	if err != nil {
		return err
	}
	if t.Meta.KEV || t.Meta.Severity().Rank() >= threshold.Rank() {
		return nil
	}
	return fmt.Errorf("%w: severity %s is below auto_approve %s", ErrNotApproved, t.Meta.Severity(), threshold)
}

// engineReporter turns the engine's progress and results into events and
// state updates.
type engineReporter struct{ d *Daemon }

func (r engineReporter) Progress(ctx context.Context, p install.Progress) error {
	d := r.d
	d.mu.Lock()
	if d.update.Phase != string(p.State) {
		d.update.Since = time.Now().UTC()
	}
	d.update.Phase, d.update.Target, d.update.ToVersion = string(p.State), p.Target, p.Version
	d.mu.Unlock()
	if d.rep == nil {
		return nil
	}
	_, err := d.rep.Emit(ctx, telemetry.Event{Time: time.Now().UTC(), Type: telemetry.EventProgress, Phase: string(p.State),
		Target: p.Target, Done: p.Written, Total: p.Length, Data: map[string]string{"version": p.Version}})
	d.publishState(ctx)
	return err
}

func (r engineReporter) Result(ctx context.Context, o install.Outcome) error {
	d := r.d
	d.noteOutcome(o)
	if d.rep == nil {
		return nil
	}
	typ := telemetry.EventResult
	if o.State == install.StateFailed {
		typ = telemetry.EventError
	}
	_, err := d.rep.Emit(ctx, telemetry.Event{Time: time.Now().UTC(), Type: typ, Phase: string(o.State), Target: o.Target,
		Reason: string(o.Reason), Message: o.Detail, Data: map[string]string{"from_version": o.FromVersion, "to_version": o.Version}})
	if o.State == install.StateCommitted {
		d.refreshInventory(ctx) // the new version runs now
	}
	d.publishState(ctx)
	return err
}

// Command handles the gateway's commands.
func (d *Daemon) Command(ctx context.Context, c telemetry.Command) error {
	switch c.Name {
	case telemetry.CmdCheckNow:
		d.poke(d.wake)
	case telemetry.CmdInventoryNow:
		d.poke(d.inventory)
	case telemetry.CmdReboot:
		if d.engine == nil || d.profile.Reboot.Method != boards.RebootCommand {
			return errors.New("reboot: the board profile has no reboot command")
		}
		if j, err := d.engine.Status(); err != nil || (j != nil && !j.State.Final()) {
			return fmt.Errorf("reboot: refused while an update is under way (journal: %v)", err)
		}
		return install.CommandRebooter(d.profile.Reboot.Command).Reboot(ctx)
	case telemetry.CmdRollback:
		return errors.New("rollback: only a failed trial boot or the boot loader's boot limit rolls back; the committed version stays")
	default:
		return fmt.Errorf("unknown command %q", c.Name)
	}
	return nil
}

// Desired records the gateway's assignment and looks at it at once.
func (d *Daemon) Desired(_ context.Context, want telemetry.Desired) error {
	d.mu.Lock()
	if d.desired != nil && want.Revision < d.desired.Revision {
		d.mu.Unlock()
		return fmt.Errorf("desired revision %d is older than %d", want.Revision, d.desired.Revision)
	}
	d.desired = &want
	d.mu.Unlock()
	d.poke(d.wake)
	return nil
}

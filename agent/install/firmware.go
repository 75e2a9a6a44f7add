package install

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"patchbay.dev/boards"
	"patchbay.dev/firmware/bootenv"
	"patchbay.dev/firmware/slot"
	"patchbay.dev/firmware/trust"
)

// The U-Boot variables of boot counting. bootlimit and altbootcmd belong
// to the board's provisioning; the agent checks them and never sets them.
const (
	varUpgradeAvailable = "upgrade_available"
	varBootcount        = "bootcount"
	varBootlimit        = "bootlimit"
	varAltbootcmd       = "altbootcmd"
)

// abSlot is one of the board's slots and where it is written.
type abSlot struct {
	boards.Slot
	s slot.Slot
}

// firmwareSlots returns the board's two slots, or why firmware cannot be
// installed on this device.
func (e *Engine) firmwareSlots() ([2]abSlot, error) {
	var out [2]abSlot
	b := e.board.Boot
	if b.Loader != boards.LoaderUBoot || len(b.Slots) != 2 || b.SlotVariable == "" {
		return out, fail(ReasonWrongKind, fmt.Errorf("%w: board %s has no U-Boot A/B slots (loader %q)", ErrUnsupported, e.board.ID, b.Loader))
	}
	if e.opts.Env == nil || e.opts.Booted == nil || e.opts.Rebooter == nil {
		return out, fail(ReasonWrongKind, fmt.Errorf("%w: firmware updates need Env, Booted and Rebooter", ErrUnsupported))
	}
	for i, bs := range b.Slots {
		s := e.opts.Slots[bs.Name]
		if s == nil {
			return out, fail(ReasonWrongKind, fmt.Errorf("%w: no slot configured for %s", ErrUnsupported, bs.Name))
		}
		out[i] = abSlot{Slot: bs, s: s}
	}
	return out, nil
}

// slotNamed returns the slot of that name.
func (e *Engine) slotNamed(name string) (abSlot, error) {
	slots, err := e.firmwareSlots()
	if err != nil {
		return abSlot{}, err
	}
	for _, s := range slots {
		if s.Name == name {
			return s, nil
		}
	}
	return abSlot{}, fail(ReasonSlotUnknown, fmt.Errorf("board %s has no slot %q", e.board.ID, name))
}

// booted returns the running slot.
func (e *Engine) booted(ctx context.Context) (abSlot, error) {
	slots, err := e.firmwareSlots()
	if err != nil {
		return abSlot{}, err
	}
	v, err := e.opts.Booted(ctx)
	if err != nil {
		return abSlot{}, retry(ReasonSlotUnknown, fmt.Errorf("running slot: %w", err))
	}
	for _, s := range slots {
		if s.Value == v {
			return s, nil
		}
	}
	return abSlot{}, fail(ReasonSlotUnknown, fmt.Errorf("running slot value %q is none of board %s's slots (%s=%s or %s)",
		v, e.board.ID, e.board.Boot.SlotVariable, slots[0].Value, slots[1].Value))
}

// readEnv reads the boot environment; an unreadable one is bootenv-corrupt.
func (e *Engine) readEnv(ctx context.Context) (bootenv.Env, error) {
	env, err := e.opts.Env.Read(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return env, err
		}
		return env, fail(ReasonBootEnvCorrupt, fmt.Errorf("read boot environment: %w", err))
	}
	return env, nil
}

// checkPrepared checks that provisioning set what the boot loader needs to
// fall back from a bad slot on its own.
func checkPrepared(env bootenv.Env) error {
	limit, ok := env.Get(varBootlimit)
	if n, err := strconv.ParseUint(limit, 10, 32); !ok || err != nil || n == 0 {
		return fail(ReasonBootEnvUnprepared, fmt.Errorf("the boot environment's bootlimit is %q; provisioning must set it to a positive number (fw_setenv bootlimit 3), or a bad image would boot forever", limit))
	}
	if alt, _ := env.Get(varAltbootcmd); alt == "" {
		return fail(ReasonBootEnvUnprepared, errors.New("the boot environment has no altbootcmd; provisioning must set one that selects the other slot, sets upgrade_available=0, saves and boots"))
	}
	return nil
}

// checkIdle checks that the environment boots the running slot and no
// trial is pending: only then may the other slot be overwritten, since a
// power cut must leave the boot loader a working slot to boot.
func (e *Engine) checkIdle(env bootenv.Env, running abSlot) error {
	v, _ := env.Get(e.board.Boot.SlotVariable)
	if v != running.Value {
		return fail(ReasonBootEnvMismatch, fmt.Errorf("the boot environment selects %s=%q but slot %s (%q) is running; set it back with fw_setenv %s %s",
			e.board.Boot.SlotVariable, v, running.Name, running.Value, e.board.Boot.SlotVariable, running.Value))
	}
	if ua, _ := env.Get(varUpgradeAvailable); ua == "1" {
		return fail(ReasonBootEnvMismatch, errors.New("upgrade_available=1: a trial boot is pending that this agent did not start; commit or roll it back first"))
	}
	return nil
}

func (e *Engine) preflightFirmware(ctx context.Context, j *Journal, t trust.Target) error {
	from, err := e.booted(ctx)
	if err != nil {
		return err
	}
	slots, _ := e.firmwareSlots()
	to := slots[0]
	if to.Name == from.Name {
		to = slots[1]
	}
	j.FromSlot, j.ToSlot = from.Name, to.Name
	env, err := e.readEnv(ctx)
	if err != nil {
		return err
	}
	if err := checkPrepared(env); err != nil {
		return err
	}
	if err := e.checkIdle(env, from); err != nil {
		return err
	}
	if t.Length > to.s.Size() {
		return fail(ReasonTooLarge, fmt.Errorf("%s is %d bytes, slot %s holds %d", t.Name, t.Length, to.Name, to.s.Size()))
	}
	return nil
}

// stepFirmware does the work of the current state of a firmware update.
func (e *Engine) stepFirmware(ctx context.Context, j *Journal) (transition, error) {
	from, err := e.slotNamed(j.FromSlot)
	if err != nil {
		return e.settle(ctx, j, err)
	}
	to, err := e.slotNamed(j.ToSlot)
	if err != nil {
		return e.settle(ctx, j, err)
	}
	switch j.State {
	case StateDownloading:
		err = e.fwDownload(ctx, j, from, to)
		if err == nil {
			return transition{to: StateStaged}, nil
		}
	case StateStaged:
		return e.fwStaged(ctx, j, to)
	case StateSwitching:
		return e.fwSwitch(ctx, j, from, to)
	case StateRebooting:
		return e.fwRebooting(ctx, from, to)
	case StateTrial:
		return e.fwTrial(ctx, to)
	case StateCommitting:
		return e.fwCommit(ctx, to)
	case StateRollingBack:
		return e.fwRollBack(ctx, from)
	default:
		err = fmt.Errorf("firmware update in unexpected state %s", j.State)
	}
	return e.settle(ctx, j, err)
}

// settle turns the error of a state's work into a transition: permanent
// failures move the update to where its state fails to, with their reason;
// transient ones and a stopped context return the error and keep the state
// for the next attempt.
func (e *Engine) settle(ctx context.Context, j *Journal, err error) (transition, error) {
	if ctx.Err() != nil {
		return transition{}, err
	}
	reason, transient := classify(err, ReasonWrite)
	if transient {
		return transition{}, err
	}
	table, _ := tableFor(j.Kind)
	to := table[j.State].exhausted
	return transition{to: to, reason: reason, err: err}, nil
}

func (e *Engine) fwDownload(ctx context.Context, j *Journal, from, to abSlot) error {
	running, err := e.booted(ctx)
	if err != nil {
		return err
	}
	if running.Name != from.Name {
		return fail(ReasonBootEnvMismatch, fmt.Errorf("slot %s runs now, not %s as when the update started; not writing the running slot", running.Name, from.Name))
	}
	env, err := e.readEnv(ctx)
	if err != nil {
		return err
	}
	if err := e.checkIdle(env, from); err != nil {
		return err
	}
	if err := e.fetchInto(ctx, j, to.s); err != nil {
		return err
	}
	e.verified = true
	return nil
}

// fwStaged checks the written slot once more if this process did not
// verify it, and whether the boot loader is ready to fall back.
func (e *Engine) fwStaged(ctx context.Context, j *Journal, to abSlot) (transition, error) {
	if !e.verified {
		if err := slot.Verify(ctx, to.s, j.Target.Length, j.sum()); err != nil {
			if ctx.Err() != nil {
				return transition{}, err
			}
			j.Written = 0
			return transition{to: StateDownloading, reason: "", err: fmt.Errorf("staged slot does not verify, writing it again: %w", err)}, nil
		}
		e.verified = true
	}
	env, err := e.readEnv(ctx)
	if err == nil {
		err = checkPrepared(env)
	}
	if err != nil {
		return e.settle(ctx, j, err)
	}
	return transition{to: StateSwitching}, nil
}

// fwSwitch selects the new slot for a trial boot in one write of the
// environment: the slot variable, upgrade_available=1 and bootcount=0,
// plus what the board sets for that slot. Before the write, a problem
// fails the update (the environment is known not to select the new slot);
// a write that fails leaves it unknown, so the update rolls back.
func (e *Engine) fwSwitch(ctx context.Context, j *Journal, from, to abSlot) (transition, error) {
	notSwitched := func(err error) (transition, error) {
		if ctx.Err() != nil {
			return transition{}, err
		}
		reason, transient := classify(err, ReasonBootEnvWrite)
		if transient {
			return transition{}, err
		}
		return transition{to: StateFailed, reason: reason, err: err}, nil
	}
	env, err := e.readEnv(ctx)
	if err != nil {
		return notSwitched(err)
	}
	if e.switched(env, to) {
		return transition{to: StateRebooting}, nil // written before the last stop
	}
	if err := checkPrepared(env); err != nil {
		return notSwitched(err)
	}
	if err := e.checkIdle(env, from); err != nil {
		return notSwitched(err)
	}
	if !e.verified {
		// Never switch to a slot this process has not seen verify.
		if err := slot.Verify(ctx, to.s, j.Target.Length, j.sum()); err != nil {
			return notSwitched(fail(ReasonVerification, fmt.Errorf("slot %s before switching: %w", to.Name, err)))
		}
		e.verified = true
	}
	if _, err := e.opts.Env.Apply(ctx, e.selectChanges(to, "1")); err != nil {
		if ctx.Err() != nil {
			return transition{}, err
		}
		// Apply writes all or nothing; read back which it was.
		after, rerr := e.opts.Env.Read(ctx)
		switch {
		case rerr == nil && e.switched(after, to):
			e.log.Warn("boot environment switched despite an error", "slot", to.Name, "err", err)
			return transition{to: StateRebooting}, nil
		case rerr == nil && !e.switched(after, to):
			return notSwitched(fail(ReasonBootEnvWrite, fmt.Errorf("switch to slot %s: %w", to.Name, err)))
		}
		return transition{to: StateRollingBack, reason: ReasonBootEnvWrite, err: fmt.Errorf("switch to slot %s: %w", to.Name, err)}, nil
	}
	e.log.Info("boot environment switched", "slot", to.Name, "to_version", j.Target.Version)
	return transition{to: StateRebooting}, nil
}

// switched reports whether env selects slot to for a trial.
func (e *Engine) switched(env bootenv.Env, to abSlot) bool {
	v, _ := env.Get(e.board.Boot.SlotVariable)
	ua, _ := env.Get(varUpgradeAvailable)
	return v == to.Value && ua == "1"
}

// selectChanges returns the changes that make the boot loader boot s,
// with upgrade_available as given and the boot counter reset.
func (e *Engine) selectChanges(s abSlot, upgradeAvailable string) bootenv.Changes {
	c := bootenv.Changes{}
	for name, value := range s.Set {
		c.Set(name, value)
	}
	c.Set(e.board.Boot.SlotVariable, s.Value)
	c.Set(varUpgradeAvailable, upgradeAvailable)
	c.Set(varBootcount, "0")
	return c
}

// fwRebooting asks for the reboot into the trial, or after it sees where
// the device came up.
func (e *Engine) fwRebooting(ctx context.Context, from, to abSlot) (transition, error) {
	running, err := e.booted(ctx)
	if err != nil {
		return transition{}, err
	}
	if running.Name == to.Name {
		return transition{to: StateTrial}, nil
	}
	env, err := e.readEnv(ctx)
	if err != nil {
		return transition{}, err
	}
	if !e.switched(env, to) {
		return transition{to: StateRollingBack, reason: ReasonBootLimit,
			err: fmt.Errorf("slot %s runs and the boot environment no longer selects %s: the boot loader fell back", from.Name, to.Name)}, nil
	}
	e.log.Info("rebooting into the trial", "slot", to.Name)
	if err := e.opts.Rebooter.Reboot(ctx); err != nil {
		return transition{}, retry(ReasonRebootFailed, fmt.Errorf("reboot: %w", err))
	}
	return transition{wait: true}, nil
}

// fwTrial runs the health checks on the trial boot.
func (e *Engine) fwTrial(ctx context.Context, to abSlot) (transition, error) {
	if tr, fellBack, err := e.checkRunning(ctx, to); fellBack || err != nil {
		return tr, err
	}
	name, err := e.healthy(ctx)
	if ctx.Err() != nil {
		return transition{}, ctx.Err()
	}
	if err != nil {
		return transition{to: StateRollingBack, reason: ReasonHealthCheckFailed.With(name), err: err}, nil
	}
	return transition{to: StateCommitting}, nil
}

// checkRunning moves a trial or commit that finds the old slot running to
// rolling-back: the boot loader gave up on the new one.
func (e *Engine) checkRunning(ctx context.Context, to abSlot) (transition, bool, error) {
	running, err := e.booted(ctx)
	if err != nil {
		return transition{}, false, err
	}
	if running.Name != to.Name {
		return transition{to: StateRollingBack, reason: ReasonBootLimit,
			err: fmt.Errorf("slot %s runs instead of %s: the boot loader fell back", running.Name, to.Name)}, true, nil
	}
	return transition{}, false, nil
}

// fwCommit makes the trial slot the one that boots for good, in one write:
// upgrade_available=0 and bootcount=0 (and the slot variable, unchanged).
func (e *Engine) fwCommit(ctx context.Context, to abSlot) (transition, error) {
	if tr, fellBack, err := e.checkRunning(ctx, to); fellBack || err != nil {
		return tr, err
	}
	if _, err := e.opts.Env.Apply(ctx, e.selectChanges(to, "0")); err != nil {
		return transition{}, retry(ReasonBootEnvWrite, fmt.Errorf("commit slot %s: %w", to.Name, err))
	}
	return transition{to: StateCommitted}, nil
}

// fwRollBack selects the old slot again in one write (slot variable,
// upgrade_available=0, bootcount=0) and reboots into it unless it runs.
func (e *Engine) fwRollBack(ctx context.Context, from abSlot) (transition, error) {
	if _, err := e.opts.Env.Apply(ctx, e.selectChanges(from, "0")); err != nil {
		return transition{}, retry(ReasonBootEnvWrite, fmt.Errorf("roll back to slot %s: %w", from.Name, err))
	}
	running, err := e.booted(ctx)
	if err != nil {
		return transition{}, err
	}
	if running.Name == from.Name {
		return transition{to: StateRolledBack}, nil
	}
	e.log.Info("rebooting into the old slot", "slot", from.Name)
	if err := e.opts.Rebooter.Reboot(ctx); err != nil {
		return transition{}, retry(ReasonRebootFailed, fmt.Errorf("reboot: %w", err))
	}
	return transition{wait: true}, nil
}

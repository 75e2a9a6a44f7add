package install

import (
	"fmt"
	"slices"

	"patchbay.dev/firmware/meta"
)

// State is where an update stands. Values are persisted in the journal and
// sent to the gateway.
type State string

// The states. Firmware goes idle → downloading → staged → switching →
// rebooting → trial → committing → committed; apps restart their service
// instead of rebooting. Every decision to go back is recorded as
// rolling-back before it takes effect.
const (
	StateIdle        State = "idle"
	StateDownloading State = "downloading" // streaming into the inactive slot; checkpoints in the journal
	StateStaged      State = "staged"      // written, read back and verified
	StateSwitching   State = "switching"   // boot environment (or app symlink) being switched
	StateRebooting   State = "rebooting"   // firmware: reboot asked for, trial boot expected
	StateRestarting  State = "restarting"  // app: service being restarted
	StateTrial       State = "trial"       // running the new version, health checks
	StateCommitting  State = "committing"  // health checks passed, commit being written
	StateCommitted   State = "committed"   // final: the new version is installed
	StateRollingBack State = "rolling-back"
	StateRolledBack  State = "rolled-back" // final: the old version runs again
	StateFailed      State = "failed"      // final: stopped before switching; the old version never stopped running
)

// Final reports whether s ends an update.
func (s State) Final() bool {
	return s == StateCommitted || s == StateRolledBack || s == StateFailed
}

// rule is one row of a transition table.
type rule struct {
	// next lists the states this one may move to; staying (a new attempt
	// after a restart) is always allowed while attempts remain.
	next []State
	// attempts is how often the state's work may be started, counting the
	// first time; 0 for final states.
	attempts int
	// exhausted is where the update goes when the attempts run out.
	exhausted State
}

// firmwareTable is the state machine of an A/B firmware update.
var firmwareTable = map[State]rule{
	StateIdle:        {next: []State{StateDownloading, StateFailed}, attempts: 1, exhausted: StateFailed},
	StateDownloading: {next: []State{StateStaged, StateFailed}, attempts: 5, exhausted: StateFailed},
	StateStaged:      {next: []State{StateSwitching, StateDownloading, StateFailed}, attempts: 3, exhausted: StateFailed},
	// A switch may have been written before a restart: only one known
	// not to have happened fails; running out of attempts rolls back,
	// which makes the environment select the old slot whatever it held.
	StateSwitching:   {next: []State{StateRebooting, StateFailed, StateRollingBack}, attempts: 3, exhausted: StateRollingBack},
	StateRebooting:   {next: []State{StateTrial, StateRollingBack}, attempts: 3, exhausted: StateRollingBack},
	StateTrial:       {next: []State{StateCommitting, StateRollingBack}, attempts: 3, exhausted: StateRollingBack},
	StateCommitting:  {next: []State{StateCommitted, StateRollingBack}, attempts: 5, exhausted: StateRollingBack},
	StateRollingBack: {next: []State{StateRolledBack, StateFailed}, attempts: 10, exhausted: StateFailed},
	StateCommitted:   {},
	StateRolledBack:  {},
	StateFailed:      {},
}

// appTable is the state machine of an app update: the switch is a
// symlink, the reboot a service restart.
var appTable = map[State]rule{
	StateIdle:        {next: []State{StateDownloading, StateFailed}, attempts: 1, exhausted: StateFailed},
	StateDownloading: {next: []State{StateStaged, StateFailed}, attempts: 5, exhausted: StateFailed},
	StateStaged:      {next: []State{StateSwitching, StateDownloading, StateFailed}, attempts: 3, exhausted: StateFailed},
	StateSwitching:   {next: []State{StateRestarting, StateRollingBack}, attempts: 3, exhausted: StateRollingBack},
	StateRestarting:  {next: []State{StateTrial, StateRollingBack}, attempts: 3, exhausted: StateRollingBack},
	StateTrial:       {next: []State{StateCommitting, StateRollingBack}, attempts: 3, exhausted: StateRollingBack},
	StateCommitting:  {next: []State{StateCommitted}, attempts: 5, exhausted: StateCommitted},
	StateRollingBack: {next: []State{StateRolledBack, StateFailed}, attempts: 10, exhausted: StateFailed},
	StateCommitted:   {},
	StateRolledBack:  {},
	StateFailed:      {},
}

func tableFor(k meta.Kind) (map[State]rule, error) {
	switch k {
	case meta.KindFirmware:
		return firmwareTable, nil
	case meta.KindApp:
		return appTable, nil
	}
	return nil, fmt.Errorf("no state machine for kind %q", k)
}

// checkTransition says whether an update of kind k may go from one state
// to another. It does no I/O.
func checkTransition(k meta.Kind, from, to State) error {
	table, err := tableFor(k)
	if err != nil {
		return err
	}
	r, ok := table[from]
	if !ok {
		return fmt.Errorf("%s update: unknown state %q", k, from)
	}
	if _, ok := table[to]; !ok {
		return fmt.Errorf("%s update: unknown state %q", k, to)
	}
	if !slices.Contains(r.next, to) {
		return fmt.Errorf("%s update: no transition from %s to %s", k, from, to)
	}
	return nil
}

// attemptsLeft says whether the work of state s may start once more after
// done attempts, and if not where the update goes instead.
func attemptsLeft(k meta.Kind, s State, done int) (ok bool, exhausted State) {
	table, err := tableFor(k)
	if err != nil {
		return false, StateFailed
	}
	r := table[s]
	return done < r.attempts, r.exhausted
}

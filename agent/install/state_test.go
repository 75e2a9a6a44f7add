package install

import (
	"testing"

	"patchbay.dev/firmware/meta"
)

func TestCheckTransition(t *testing.T) {
	tests := []struct {
		name     string
		kind     meta.Kind
		from, to State
		ok       bool
	}{
		{"start", meta.KindFirmware, StateIdle, StateDownloading, true},
		{"downloaded", meta.KindFirmware, StateDownloading, StateStaged, true},
		{"bad download", meta.KindFirmware, StateDownloading, StateFailed, true},
		{"stage to switch", meta.KindFirmware, StateStaged, StateSwitching, true},
		{"switch to reboot", meta.KindFirmware, StateSwitching, StateRebooting, true},
		{"boot into trial", meta.KindFirmware, StateRebooting, StateTrial, true},
		{"boot loader fell back", meta.KindFirmware, StateRebooting, StateRollingBack, true},
		{"healthy", meta.KindFirmware, StateTrial, StateCommitting, true},
		{"unhealthy", meta.KindFirmware, StateTrial, StateRollingBack, true},
		{"committed", meta.KindFirmware, StateCommitting, StateCommitted, true},
		{"rolled back", meta.KindFirmware, StateRollingBack, StateRolledBack, true},
		{"no failing after the switch", meta.KindFirmware, StateTrial, StateFailed, false},
		{"no rollback of a download", meta.KindFirmware, StateDownloading, StateRolledBack, false},
		{"no skipping the verification", meta.KindFirmware, StateDownloading, StateSwitching, false},
		{"no commit without a trial", meta.KindFirmware, StateRebooting, StateCommitting, false},
		{"no leaving a final state", meta.KindFirmware, StateCommitted, StateDownloading, false},
		{"no firmware restart", meta.KindFirmware, StateSwitching, StateRestarting, false},
		{"app restarts", meta.KindApp, StateSwitching, StateRestarting, true},
		{"app does not reboot", meta.KindApp, StateSwitching, StateRebooting, false},
		{"app restart failed", meta.KindApp, StateRestarting, StateRollingBack, true},
		{"unknown state", meta.KindFirmware, State("flashing"), StateStaged, false},
		{"unknown kind", meta.KindAgent, StateIdle, StateDownloading, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkTransition(tt.kind, tt.from, tt.to)
			if (err == nil) != tt.ok {
				t.Errorf("checkTransition(%s, %s, %s) = %v, want ok %v", tt.kind, tt.from, tt.to, err, tt.ok)
			}
		})
	}
}

func TestTablesAreClosed(t *testing.T) {
	for kind, table := range map[meta.Kind]map[State]rule{meta.KindFirmware: firmwareTable, meta.KindApp: appTable} {
		for from, r := range table {
			if from.Final() != (r.attempts == 0) {
				t.Errorf("%s %s: final %v but %d attempts", kind, from, from.Final(), r.attempts)
			}
			for _, to := range append(r.next, r.exhausted) {
				if to == "" && from.Final() {
					continue
				}
				if _, ok := table[to]; !ok {
					t.Errorf("%s %s leads to %q, which is not in the table", kind, from, to)
				}
			}
			if !from.Final() && r.exhausted != "" && !contains(r.next, r.exhausted) && from != StateIdle {
				t.Errorf("%s %s: exhausted state %s is not among its transitions", kind, from, r.exhausted)
			}
		}
	}
}

func contains(states []State, s State) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

func TestAttemptsLeft(t *testing.T) {
	tests := []struct {
		state     State
		done      int
		ok        bool
		exhausted State
	}{
		{StateDownloading, 4, true, StateFailed},
		{StateDownloading, 5, false, StateFailed},
		{StateTrial, 3, false, StateRollingBack},
		{StateRebooting, 2, true, StateRollingBack},
		{StateRollingBack, 10, false, StateFailed},
	}
	for _, tt := range tests {
		ok, exhausted := attemptsLeft(meta.KindFirmware, tt.state, tt.done)
		if ok != tt.ok || (!ok && exhausted != tt.exhausted) {
			t.Errorf("attemptsLeft(firmware, %s, %d) = %v, %s; want %v, %s", tt.state, tt.done, ok, exhausted, tt.ok, tt.exhausted)
		}
	}
}

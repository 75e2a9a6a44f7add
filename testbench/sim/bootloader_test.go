package sim

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/firmware/bootenv"
)

func env(t *testing.T, vars map[string]string) bootenv.Env {
	t.Helper()
	e, err := bootenv.NewEnv(vars)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var ab = [2]string{"A", "B"}

func TestBootOnce(t *testing.T) {
	base := map[string]string{SlotVariable: "B", VarBootlimit: "3", VarAltbootcmd: "…"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(m, kv[i])
				continue
			}
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name      string
		env       map[string]string
		wantEnv   map[string]string // nil: unchanged
		wantSlot  string
		wantSaved bool
		fellBack  bool
	}{
		{name: "committed: no counting, no write", env: with(VarUpgradeAvailable, "0", VarBootcount, "7"), wantSlot: "B"},
		{name: "no upgrade_available variable", env: with(), wantSlot: "B"},
		{name: "trial boot 1", env: with(VarUpgradeAvailable, "1", VarBootcount, "0"),
			wantEnv: with(VarUpgradeAvailable, "1", VarBootcount, "1"), wantSlot: "B", wantSaved: true},
		{name: "trial boot at the limit", env: with(VarUpgradeAvailable, "1", VarBootcount, "2"),
			wantEnv: with(VarUpgradeAvailable, "1", VarBootcount, "3"), wantSlot: "B", wantSaved: true},
		{name: "limit exceeded: altbootcmd", env: with(VarUpgradeAvailable, "1", VarBootcount, "3"),
			wantEnv: with(VarUpgradeAvailable, "0", VarBootcount, "4", SlotVariable, "A"), wantSlot: "A", wantSaved: true, fellBack: true},
		{name: "limit exceeded from A", env: with(SlotVariable, "A", VarUpgradeAvailable, "1", VarBootcount, "9"),
			wantEnv: with(SlotVariable, "B", VarUpgradeAvailable, "0", VarBootcount, "10"), wantSlot: "B", wantSaved: true, fellBack: true},
		{name: "no bootlimit: counts forever", env: with(VarBootlimit, "<unset>", VarUpgradeAvailable, "1", VarBootcount, "99"),
			wantEnv: with(VarBootlimit, "<unset>", VarUpgradeAvailable, "1", VarBootcount, "100"), wantSlot: "B", wantSaved: true},
		{name: "no altbootcmd: stuck at the prompt", env: with(VarAltbootcmd, "<unset>", VarUpgradeAvailable, "1", VarBootcount, "3"),
			wantEnv: with(VarAltbootcmd, "<unset>", VarUpgradeAvailable, "1", VarBootcount, "4"), wantSlot: "", wantSaved: true},
		{name: "garbage bootcount counts from 0", env: with(VarUpgradeAvailable, "1", VarBootcount, "x"),
			wantEnv: with(VarUpgradeAvailable, "1", VarBootcount, "1"), wantSlot: "B", wantSaved: true},
		{name: "upgrade_available=2 is set too", env: with(VarUpgradeAvailable, "2", VarBootcount, "0"),
			wantEnv: with(VarUpgradeAvailable, "2", VarBootcount, "1"), wantSlot: "B", wantSaved: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := env(t, tt.env)
			p := BootOnce(in, SlotVariable, ab)
			want := tt.wantEnv
			if want == nil {
				want = tt.env
			}
			if diff := cmp.Diff(want, p.Env.Map()); diff != "" {
				t.Errorf("BootOnce env (-want +got):\n%s", diff)
			}
			if p.Slot != tt.wantSlot || p.Saved != tt.wantSaved || p.FellBack != tt.fellBack {
				t.Errorf("BootOnce = slot %q saved %v fell back %v, want %q %v %v", p.Slot, p.Saved, p.FellBack, tt.wantSlot, tt.wantSaved, tt.fellBack)
			}
			if !in.Equal(env(t, tt.env)) {
				t.Error("BootOnce changed its input")
			}
		})
	}
}

func TestWalk(t *testing.T) {
	good := func(slots ...string) func(string) bool {
		return func(s string) bool {
			for _, g := range slots {
				if s == g {
					return true
				}
			}
			return false
		}
	}
	trial := map[string]string{SlotVariable: "B", VarBootlimit: "3", VarAltbootcmd: "…", VarUpgradeAvailable: "1", VarBootcount: "0"}
	committed := map[string]string{SlotVariable: "B", VarBootlimit: "3", VarAltbootcmd: "…", VarUpgradeAvailable: "0", VarBootcount: "0"}
	tests := []struct {
		name     string
		env      map[string]string
		bootable func(string) bool
		wantOK   bool
		wantSlot string
		powerOns int
	}{
		{"trial of a good image", trial, good("A", "B"), true, "B", 1},
		{"trial of a half-written slot falls back", trial, good("A"), true, "A", 4},
		{"committed bad slot is a brick", committed, good("A"), false, "", 1},
		{"both slots bad", trial, good(), false, "", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, ok := Walk(env(t, tt.env), SlotVariable, ab, tt.bootable)
			if ok != tt.wantOK || len(steps) != tt.powerOns {
				t.Fatalf("Walk = %d power-ons, ok %v; want %d, %v", len(steps), ok, tt.powerOns, tt.wantOK)
			}
			if ok && steps[len(steps)-1].Slot != tt.wantSlot {
				t.Errorf("Walk booted %q, want %q", steps[len(steps)-1].Slot, tt.wantSlot)
			}
		})
	}
}

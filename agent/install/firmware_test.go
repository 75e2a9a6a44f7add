package install

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/firmware/bootenv"
	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/slot"
	"patchbay.dev/firmware/trust"
	"patchbay.dev/testbench/sim"
)

func TestFirmwareCommitted(t *testing.T) {
	r := newRig(t)
	tg := r.publish("1.0.1", false, sim.DefaultBoard, 300<<10)
	out, err := r.engine().Install(t.Context(), Request{Target: tg, FromVersion: "1.0.0"})
	if err != nil || out.State != StateRebooting {
		t.Fatalf("Install = %+v, %v; want state rebooting", out, err)
	}
	if r.reboots != 1 {
		t.Errorf("reboots asked for: %d, want 1", r.reboots)
	}
	if env := r.env(); !cmp.Equal(pick(env, sim.SlotVariable, varUpgradeAvailable, varBootcount), []string{"B", "1", "0"}) {
		t.Errorf("after the switch the environment has %v, want slot B, upgrade_available 1, bootcount 0", pick(env, sim.SlotVariable, varUpgradeAvailable, varBootcount))
	}
	out, err = r.finish(out, err)
	if err != nil || out.State != StateCommitted || out.Reason != ReasonInstalled || !out.Installed() {
		t.Fatalf("update = %+v, %v; want committed, installed", out, err)
	}
	r.expectRunning("B", "1.0.1")
	if bc, _ := r.env().Get(varBootcount); bc != "0" {
		t.Errorf("bootcount = %s after commit, want 0", bc)
	}
	want := []State{StateDownloading, StateStaged, StateSwitching, StateRebooting, StateTrial, StateCommitting, StateCommitted}
	if diff := cmp.Diff(want, r.rec.states()); diff != "" {
		t.Errorf("reported states (-want +got):\n%s", diff)
	}
	if len(r.rec.results) != 1 || r.rec.results[0].Reason != ReasonInstalled {
		t.Errorf("results = %+v, want one, installed", r.rec.results)
	}
	// A second update goes the other way.
	tg = r.publish("1.0.2", false, sim.DefaultBoard, 100<<10)
	if out, err := r.install(tg); err != nil || out.State != StateCommitted {
		t.Fatalf("second update = %+v, %v", out, err)
	}
	r.expectRunning("A", "1.0.2")
}

func pick(env bootenv.Env, names ...string) []string {
	var out []string
	for _, n := range names {
		v, _ := env.Get(n)
		out = append(out, v)
	}
	return out
}

func TestFirmwareHealthCheckFails(t *testing.T) {
	r := newRig(t)
	tg := r.publish("1.0.1", true, sim.DefaultBoard, 150<<10)
	out, err := r.install(tg)
	var ue *Error
	if !errors.As(err, &ue) || out.State != StateRolledBack || out.Reason != ReasonHealthCheckFailed.With("web-ui") {
		t.Fatalf("update = %+v, %v; want rolled-back, health-check-failed:web-ui", out, err)
	}
	if ue.Reason != out.Reason {
		t.Errorf("Error.Reason = %s, want %s", ue.Reason, out.Reason)
	}
	r.expectRunning("A", "1.0.0")
	if out.Installed() || slices.ContainsFunc(r.rec.results, func(o Outcome) bool { return o.Reason == ReasonInstalled }) {
		t.Error("a rolled-back update was reported installed")
	}
}

func TestFirmwareBootLimit(t *testing.T) {
	r := newRig(t)
	tg := r.publish("1.0.1", false, sim.DefaultBoard, 100<<10)
	out, err := r.engine().Install(t.Context(), Request{Target: tg})
	if err != nil || out.State != StateRebooting {
		t.Fatalf("Install = %+v, %v", out, err)
	}
	// The trial boots die before the agent runs, until U-Boot gives up.
	for range 3 {
		if b := r.powerCycle(); b.Slot != "B" {
			t.Fatalf("trial boot ran slot %s", b.Slot)
		}
	}
	if b := r.powerCycle(); b.Slot != "A" || !b.FellBack {
		t.Fatalf("4th boot = %+v, want a fall-back to A", b)
	}
	out, err = r.engine().Resume(t.Context())
	if out.State != StateRolledBack || out.Reason != ReasonBootLimit {
		t.Fatalf("Resume = %+v, %v; want rolled-back, boot-limit-reached", out, err)
	}
	r.expectRunning("A", "1.0.0")
	if bc, _ := r.env().Get(varBootcount); bc != "0" {
		t.Errorf("bootcount = %s after the roll-back, want 0", bc)
	}
}

// TestFirmwareBadInput checks that every kind of bad input fails the
// update with its reason before the switch and leaves slot A running,
// selected and intact.
func TestFirmwareBadInput(t *testing.T) {
	errDisk := errors.New("injected: I/O error")
	tests := []struct {
		name   string
		setup  func(r *rig) trust.Target
		mod    func(*Options)
		reason Reason
		noBoot bool // the setup itself leaves the device unbootable
	}{
		{name: "image for another board", reason: ReasonWrongBoard,
			setup: func(r *rig) trust.Target { return r.publish("1.0.1", false, "another-board", 1000) }},
		{name: "corrupted download", reason: ReasonVerification,
			setup: func(r *rig) trust.Target {
				tg := r.publish("1.0.1", false, sim.DefaultBoard, 200<<10)
				r.serveAltered(tg, func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b })
				return tg
			}},
		{name: "truncated download", reason: ReasonDownload,
			setup: func(r *rig) trust.Target {
				tg := r.publish("1.0.1", false, sim.DefaultBoard, 200<<10)
				r.serveAltered(tg, func(b []byte) []byte { return b[:len(b)/3] })
				return tg
			}},
		{name: "image too large", reason: ReasonTooLarge,
			setup: func(r *rig) trust.Target { return r.publish("1.0.1", false, sim.DefaultBoard, rigSlotSize) }},
		{name: "slot write fails", reason: ReasonWrite,
			setup: func(r *rig) trust.Target { return r.publish("1.0.1", false, sim.DefaultBoard, 200<<10) },
			mod: func(o *Options) {
				o.Slots["B"] = &failingSlot{Slot: o.Slots["B"], n: 100 << 10, err: errDisk}
			}},
		{name: "disk full", reason: ReasonDiskFull,
			setup: func(r *rig) trust.Target { return r.publish("1.0.1", false, sim.DefaultBoard, 200<<10) },
			mod: func(o *Options) {
				o.Slots["B"] = &failingSlot{Slot: o.Slots["B"], n: 150 << 10, err: syscall.ENOSPC}
			}},
		{name: "boot environment corrupt", reason: ReasonBootEnvCorrupt, noBoot: true,
			setup: func(r *rig) trust.Target {
				for _, f := range r.dev.EnvCopies() {
					if err := os.WriteFile(f, make([]byte, 0x4000), 0o644); err != nil {
						r.t.Fatal(err)
					}
				}
				return r.publish("1.0.1", false, sim.DefaultBoard, 1000)
			}},
		{name: "no bootlimit", reason: ReasonBootEnvUnprepared,
			setup: func(r *rig) trust.Target {
				r.changeEnv(bootenv.Changes{"bootlimit": nil})
				return r.publish("1.0.1", false, sim.DefaultBoard, 1000)
			}},
		{name: "no altbootcmd", reason: ReasonBootEnvUnprepared,
			setup: func(r *rig) trust.Target {
				r.changeEnv(bootenv.Changes{"altbootcmd": nil})
				return r.publish("1.0.1", false, sim.DefaultBoard, 1000)
			}},
		{name: "environment selects the other slot", reason: ReasonBootEnvMismatch, noBoot: true,
			setup: func(r *rig) trust.Target {
				r.changeEnv(bootenv.Changes{sim.SlotVariable: new("B")})
				return r.publish("1.0.1", false, sim.DefaultBoard, 1000)
			}},
		{name: "trial pending", reason: ReasonBootEnvMismatch,
			setup: func(r *rig) trust.Target {
				r.changeEnv(bootenv.Changes{varUpgradeAvailable: new("1")})
				return r.publish("1.0.1", false, sim.DefaultBoard, 1000)
			}},
		{name: "app target without apps", reason: ReasonWrongKind,
			setup: func(r *rig) trust.Target {
				return r.publishBytes("apps/x/x-1.tar", []byte("x"), meta.Target{Kind: meta.KindApp, Boards: []string{sim.DefaultBoard}, Version: "1"})
			}},
		{name: "agent target", reason: ReasonWrongKind,
			setup: func(r *rig) trust.Target {
				return r.publishBytes("agent/a-2", []byte("x"), meta.Target{Kind: meta.KindAgent, Boards: []string{sim.DefaultBoard}, Version: "2"})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			tg := tt.setup(r)
			before := r.slotBytes("A")
			envBefore, envErr := r.dev.Env().Read(t.Context())
			var mods []func(*Options)
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			out, err := r.engine(mods...).Install(t.Context(), Request{Target: tg})
			var ue *Error
			if !errors.As(err, &ue) || out.State != StateFailed || out.Reason != tt.reason || ue.Reason != tt.reason {
				t.Fatalf("Install = %+v, %v; want failed with reason %s", out, err, tt.reason)
			}
			if out.Detail == "" {
				t.Error("a failure without detail")
			}
			if r.reboots != 0 {
				t.Errorf("%d reboots asked for", r.reboots)
			}
			j, jerr := r.engine().Status()
			if jerr != nil || j.State != StateFailed || j.Reason != tt.reason || !j.Reported {
				t.Errorf("journal = %+v, %v; want failed, %s, reported", j, jerr, tt.reason)
			}
			if got := r.slotBytes("A"); string(got) != string(before) {
				t.Error("slot A changed")
			}
			if after, err := r.dev.Env().Read(t.Context()); envErr == nil && (err != nil || !after.Equal(envBefore)) {
				t.Errorf("boot environment changed (%v):\n%s\nwas\n%s", err, after, envBefore)
			}
			if tt.noBoot {
				return
			}
			if b := r.powerCycle(); b.Slot != "A" {
				t.Errorf("after a power cycle slot %s runs, want A", b.Slot)
			}
		})
	}
}

func (r *rig) changeEnv(c bootenv.Changes) {
	r.t.Helper()
	if _, err := r.dev.Env().Apply(r.t.Context(), c); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) slotBytes(name string) []byte {
	r.t.Helper()
	b, err := os.ReadFile(r.dev.SlotPath(name))
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// serveAltered makes the repository serve target tg's bytes changed by f.
func (r *rig) serveAltered(tg trust.Target, f func([]byte) []byte) {
	r.t.Helper()
	path := filepath.Join(r.repo.Layout.Public(), "targets", filepath.FromSlash(tg.RemotePath()))
	data, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatal(err)
	}
	altered := f(data)
	r.repo.Serve("/targets/"+tg.RemotePath(), func(w http.ResponseWriter, req *http.Request) {
		w.Write(altered)
	})
}

// TestDownloadResumesWithRange cuts the power in the middle of a download
// and checks that the next run asks only for the rest.
func TestDownloadResumesWithRange(t *testing.T) {
	r := newRig(t)
	tg := r.publish("1.0.1", false, sim.DefaultBoard, 500<<10)
	path := filepath.Join(r.repo.Layout.Public(), "targets", filepath.FromSlash(tg.RemotePath()))
	var ranges []string
	r.repo.Serve("/targets/"+tg.RemotePath(), func(w http.ResponseWriter, req *http.Request) {
		ranges = append(ranges, req.Header.Get("Range"))
		http.ServeFile(w, req, path)
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	e := r.engine()
	(&powerCut{at: 5, cancel: cancel}).arm(e) // downloading, then three checkpoints, then the cut
	if _, err := e.Install(ctx, Request{Target: tg}); !errors.Is(err, errPowerCut) && !errors.Is(err, context.Canceled) {
		t.Fatalf("Install with a power cut = %v", err)
	}
	j, err := r.engine().Status()
	if err != nil || j.State != StateDownloading || j.Written < 3*64<<10 || j.Written >= tg.Length {
		t.Fatalf("journal after the cut = %+v, %v; want downloading with three checkpoints", j, err)
	}
	out, err := r.finish(Outcome{State: j.State}, nil)
	if err != nil || out.State != StateCommitted {
		t.Fatalf("update after the cut = %+v, %v", out, err)
	}
	if want := []string{"", fmt.Sprintf("bytes=%d-", j.Written)}; !cmp.Equal(ranges, want) {
		t.Errorf("Range headers = %q, want %q", ranges, want)
	}
	r.expectRunning("B", "1.0.1")
}

// TestPowerCutAtEveryJournalWrite cuts the power at each journal write of
// an update in turn, boots, and lets the agent finish: the result is
// always the one an uninterrupted update has, and the device never lacks a
// bootable slot.
func TestPowerCutAtEveryJournalWrite(t *testing.T) {
	for _, unwell := range []bool{false, true} {
		want := StateCommitted
		if unwell {
			want = StateRolledBack
		}
		t.Run(string(want), func(t *testing.T) {
			for n := 1; ; n++ {
				r := newRig(t)
				tg := r.publish("1.0.1", unwell, sim.DefaultBoard, 200<<10)
				ctx, cancel := context.WithCancel(t.Context())
				p := &powerCut{at: n, cancel: cancel}
				e := r.engine()
				p.arm(e)
				out, err := e.Install(ctx, Request{Target: tg})
				for i := 0; !out.State.Final() || p.engine == e; i++ {
					if i == 20 {
						t.Fatalf("cut at write %d: stuck in %s: %v", n, out.State, err)
					}
					r.powerCycle()
					if p.engine != nil {
						ctx = t.Context()
					}
					e = r.engine()
					p.arm(e)
					out, err = e.Resume(ctx)
					if out.State == StateIdle {
						// Cut before the update was recorded: the agent
						// starts it again, as it would.
						out, err = e.Install(ctx, Request{Target: tg})
					}
				}
				cancel()
				if out.State != want {
					t.Fatalf("cut at write %d: update ended %+v (%v), want %s", n, out, err, want)
				}
				if want == StateCommitted {
					r.expectRunning("B", "1.0.1")
				} else {
					r.expectRunning("A", "1.0.0")
				}
				if p.engine == nil {
					t.Logf("an update takes %d journal writes", n-1)
					return
				}
			}
		})
	}
}

// powerCut cuts the power at the at-th journal write over all engines it
// arms: that write and every later one of the same engine fail, and the
// context is cancelled.
type powerCut struct {
	at     int
	count  int
	cancel context.CancelFunc
	engine *Engine // the engine that lost its power
}

func (p *powerCut) arm(e *Engine) {
	e.beforeSave = func(*Journal) error {
		switch {
		case p.engine == e:
			return errPowerCut
		case p.engine != nil:
			return nil
		}
		if p.count++; p.count == p.at {
			p.engine = e
			p.cancel()
			return errPowerCut
		}
		return nil
	}
}

// TestCutAfterSwitchRepeatedly cuts the power right after the switch of
// the environment, before the journal records it, on every run: the
// update must end rolled back with the old slot selected, never failed
// with a trial pending (the campaign found that once).
func TestCutAfterSwitchRepeatedly(t *testing.T) {
	r := newRig(t)
	tg := r.publish("1.0.1", false, sim.DefaultBoard, 1000)
	cutBeforeRebooting := func(o *Engine, cancel context.CancelFunc) {
		o.beforeSave = func(j *Journal) error {
			if j.State == StateRebooting {
				cancel()
				return errPowerCut
			}
			return nil
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	e := r.engine()
	cutBeforeRebooting(e, cancel)
	out, err := e.Install(ctx, Request{Target: tg})
	for i := 0; !out.State.Final(); i++ {
		if i == 10 {
			t.Fatalf("stuck in %s: %v", out.State, err)
		}
		if b := r.powerCycle(); i < 3 && b.Slot != "B" {
			t.Fatalf("power cycle %d booted %s, want the trial of B", i, b.Slot)
		}
		ctx, cancel = context.WithCancel(t.Context())
		e = r.engine()
		cutBeforeRebooting(e, cancel)
		out, err = e.Resume(ctx)
	}
	cancel()
	if out.State != StateRolledBack || out.Reason != ReasonAttempts.With("switching") {
		t.Fatalf("update = %+v, %v; want rolled-back, attempts-exceeded:switching", out, err)
	}
	r.expectRunning("A", "1.0.0")
}

func TestInstallBusyAndStatus(t *testing.T) {
	r := newRig(t)
	tg := r.publish("1.0.1", false, sim.DefaultBoard, 1000)
	if _, err := r.engine().Install(t.Context(), Request{Target: tg}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.engine().Install(t.Context(), Request{Target: tg}); !errors.Is(err, ErrBusy) {
		t.Errorf("second Install = %v, want ErrBusy", err)
	}
	j, err := r.engine().Status()
	if err != nil || j.State != StateRebooting || j.FromSlot != "A" || j.ToSlot != "B" || j.Written != tg.Length {
		t.Errorf("Status = %+v, %v", j, err)
	}
}

func TestResumeIdleAndFinished(t *testing.T) {
	r := newRig(t)
	if out, err := r.engine().Resume(t.Context()); err != nil || out.State != StateIdle {
		t.Errorf("Resume without a journal = %+v, %v; want idle", out, err)
	}
	tg := r.publish("another", false, "other-board", 10)
	if _, err := r.install(tg); err == nil {
		t.Fatal("wrong-board install succeeded")
	}
	if out, err := r.engine().Resume(t.Context()); err != nil || out.State != StateFailed || out.Reason != ReasonWrongBoard {
		t.Errorf("Resume after a failed update = %+v, %v; want the failed outcome without error", out, err)
	}
}

func TestTargetChangedWhileDownloading(t *testing.T) {
	r := newRig(t)
	tg := r.publish("1.0.1", false, sim.DefaultBoard, 300<<10)
	ctx, cancel := context.WithCancel(t.Context())
	e := r.engine()
	(&powerCut{at: 3, cancel: cancel}).arm(e)
	e.Install(ctx, Request{Target: tg})
	other := r.publish("1.0.2", false, sim.DefaultBoard, 300<<10)
	out, err := r.engine(func(o *Options) {
		o.Lookup = func(context.Context, string) (trust.Target, error) { return other, nil }
	}).Resume(t.Context())
	if out.State != StateFailed || out.Reason != ReasonTargetChanged {
		t.Fatalf("Resume = %+v, %v; want failed, target-changed", out, err)
	}
	r.expectRunning("A", "1.0.0")
}

func TestTrialAttemptsExceeded(t *testing.T) {
	r := newRig(t)
	tg := r.publish("1.0.1", false, sim.DefaultBoard, 1000)
	if _, err := r.engine().Install(t.Context(), Request{Target: tg}); err != nil {
		t.Fatal(err)
	}
	r.powerCycle()
	// The agent (not the device) is restarted three times while the
	// trial's health checks run: the check stops the agent.
	for range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		out, err := r.engine(func(o *Options) {
			o.Roundtrip = func(ctx context.Context) error { cancel(); <-ctx.Done(); return ctx.Err() }
		}).Resume(ctx)
		cancel()
		if out.State != StateTrial || !errors.Is(err, context.Canceled) {
			t.Fatalf("Resume stopped in the trial = %+v, %v", out, err)
		}
	}
	out, err := r.finish(r.engine().Resume(t.Context()))
	if out.State != StateRolledBack || out.Reason != ReasonAttempts.With("trial") {
		t.Fatalf("update = %+v, %v; want rolled-back, attempts-exceeded:trial", out, err)
	}
	r.expectRunning("A", "1.0.0")
}

func TestCorruptJournal(t *testing.T) {
	r := newRig(t)
	if err := os.MkdirAll(r.state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.state, JournalFile), []byte("{\"version\":1,\"id\":"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := r.engine().Resume(t.Context())
	if !errors.Is(err, ErrJournalCorrupt) || out.Reason != ReasonJournalCorrupt {
		t.Fatalf("Resume = %+v, %v; want journal-corrupt", out, err)
	}
	if len(r.rec.results) != 1 || r.rec.results[0].Reason != ReasonJournalCorrupt {
		t.Errorf("results = %+v, want journal-corrupt reported", r.rec.results)
	}
	tg := r.publish("1.0.1", false, sim.DefaultBoard, 1000)
	if out, err := r.install(tg); err != nil || out.State != StateCommitted {
		t.Fatalf("install after a corrupt journal = %+v, %v", out, err)
	}
}

// TestFullStateDirectory checks that an outcome the journal cannot take
// still reaches the reporter.
func TestFullStateDirectory(t *testing.T) {
	r := newRig(t)
	tg := r.publish("1.0.1", false, "another-board", 100)
	e := r.engine()
	e.beforeSave = func(j *Journal) error {
		if j.State.Final() {
			return fmt.Errorf("write journal: %w", syscall.ENOSPC)
		}
		return nil
	}
	if _, err := e.Install(t.Context(), Request{Target: tg}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Install = %v, want ENOSPC", err)
	}
	if len(r.rec.results) != 1 || r.rec.results[0].Reason != ReasonWrongBoard || !strings.Contains(r.rec.results[0].Detail, "not recorded") {
		t.Errorf("results = %+v, want wrong-board, not recorded", r.rec.results)
	}
	r.expectRunning("A", "1.0.0")
}

func TestNewRejectsRoundtripWithoutFunc(t *testing.T) {
	r := newRig(t)
	o := r.options()
	o.Roundtrip = nil
	if _, err := New(o); err == nil {
		t.Error("New with an mqtt-roundtrip check and no Roundtrip succeeded")
	}
}

var _ slot.Slot = (*Resumable)(nil)

package install

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/trust"
	"patchbay.dev/testbench/sim"
)

// appRig is a rig with an apps directory, a restart command that logs
// what it restarts and an app health check: the running version's
// "health" file must not say "bad".
type appRig struct {
	*rig
	apps, restarts string
}

func newAppRig(t *testing.T) *appRig {
	r := &appRig{rig: newRig(t), apps: filepath.Join(t.TempDir(), "apps")}
	r.restarts = filepath.Join(t.TempDir(), "restarts.log")
	return r
}

func (r *appRig) withApps(o *Options) {
	o.Apps = AppOptions{Dir: r.apps, Restart: []string{"/bin/sh", "-c", "echo {app} {version} >> " + r.restarts}}
	o.Checks = []Check{{Name: "app-health", Kind: CheckRoundtrip}}
	o.Roundtrip = func(context.Context) error {
		b, err := os.ReadFile(filepath.Join(r.apps, "demo", currentLink, "health"))
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(b)) == "bad" {
			return errors.New("app reports bad health")
		}
		return nil
	}
}

func (r *appRig) publishApp(version, health string) trust.Target {
	r.t.Helper()
	data := makeTar(r.t, true, dir("bin"), file("bin/demo", "#!/bin/sh\necho "+version+"\n"), file("health", health))
	return r.publishBytes("apps/demo/demo-"+version+".tar.gz", data, meta.Target{Kind: meta.KindApp, Boards: []string{sim.DefaultBoard}, Version: version})
}

func (r *appRig) current() string {
	r.t.Helper()
	v, err := os.Readlink(filepath.Join(r.apps, "demo", currentLink))
	if err != nil {
		return ""
	}
	return v
}

func (r *appRig) versions() []string {
	entries, _ := os.ReadDir(filepath.Join(r.apps, "demo"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func (r *appRig) restarted() string {
	b, _ := os.ReadFile(r.restarts)
	return strings.TrimSpace(string(b))
}

func TestAppUpdates(t *testing.T) {
	r := newAppRig(t)
	for i, v := range []string{"1.0", "1.1", "1.2"} {
		out, err := r.engine(r.withApps).Install(t.Context(), Request{Target: r.publishApp(v, "ok")})
		if err != nil || out.State != StateCommitted || out.Reason != ReasonInstalled {
			t.Fatalf("install %s = %+v, %v", v, out, err)
		}
		if i > 0 && out.FromVersion != []string{"1.0", "1.1"}[i-1] {
			t.Errorf("install %s from version %q", v, out.FromVersion)
		}
		if r.current() != v {
			t.Errorf("after installing %s current -> %q", v, r.current())
		}
	}
	if got, want := strings.Join(r.versions(), " "), "1.1 1.2 current"; got != want {
		t.Errorf("app directory holds %q, want %q (current and previous kept)", got, want)
	}
	if got, want := r.restarted(), "demo 1.0\ndemo 1.1\ndemo 1.2"; got != want {
		t.Errorf("restarts = %q, want %q", got, want)
	}
	b, err := os.ReadFile(filepath.Join(r.apps, "demo", "current", "bin", "demo"))
	if err != nil || !strings.Contains(string(b), "1.2") {
		t.Errorf("current/bin/demo = %q, %v", b, err)
	}
	if _, err := r.engine(r.withApps).Install(t.Context(), Request{Target: r.publishApp("1.2", "ok")}); err == nil {
		t.Error("installing the current version again succeeded")
	}
	if _, err := os.Stat(filepath.Join(r.apps, "demo", "current", "bin", "demo")); err != nil {
		t.Errorf("the refused re-install damaged the current version: %v", err)
	}
}

func TestAppRollBack(t *testing.T) {
	tests := []struct {
		name    string
		health  string
		restart []string
		reason  Reason
	}{
		{"health check fails", "bad", nil, ReasonHealthCheckFailed.With("app-health")},
		{"restart fails", "ok", []string{"/bin/sh", "-c", "test {version} != 2.0"}, ReasonRestartFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newAppRig(t)
			mod := func(o *Options) {
				r.withApps(o)
				if tt.restart != nil {
					o.Apps.Restart = tt.restart
				}
			}
			if _, err := r.engine(mod).Install(t.Context(), Request{Target: r.publishApp("1.0", "ok")}); err != nil {
				t.Fatal(err)
			}
			out, err := r.engine(mod).Install(t.Context(), Request{Target: r.publishApp("2.0", tt.health)})
			var ue *Error
			if !errors.As(err, &ue) || out.State != StateRolledBack || out.Reason != tt.reason {
				t.Fatalf("install 2.0 = %+v, %v; want rolled-back, %s", out, err, tt.reason)
			}
			if r.current() != "1.0" {
				t.Errorf("current -> %q, want 1.0", r.current())
			}
			if got := strings.Join(r.versions(), " "); got != "1.0 current" {
				t.Errorf("app directory holds %q, want the failed version removed", got)
			}
		})
	}
}

func TestAppFirstInstallRollBack(t *testing.T) {
	r := newAppRig(t)
	out, err := r.engine(r.withApps).Install(t.Context(), Request{Target: r.publishApp("1.0", "bad")})
	if out.State != StateRolledBack || err == nil {
		t.Fatalf("install = %+v, %v; want rolled-back", out, err)
	}
	if r.current() != "" {
		t.Errorf("current -> %q after rolling back a first install, want no link", r.current())
	}
}

func TestAppInvalidArchive(t *testing.T) {
	r := newAppRig(t)
	if _, err := r.engine(r.withApps).Install(t.Context(), Request{Target: r.publishApp("1.0", "ok")}); err != nil {
		t.Fatal(err)
	}
	evil := makeTar(t, false, file("ok", "x"), link("escape", "../../../etc"))
	tg := r.publishBytes("apps/demo/demo-2.0.tar", evil, meta.Target{Kind: meta.KindApp, Boards: []string{sim.DefaultBoard}, Version: "2.0"})
	out, err := r.engine(r.withApps).Install(t.Context(), Request{Target: tg})
	if out.State != StateFailed || out.Reason != ReasonAppInvalid {
		t.Fatalf("install = %+v, %v; want failed, app-invalid", out, err)
	}
	if r.current() != "1.0" {
		t.Errorf("current -> %q, want 1.0", r.current())
	}
	for _, v := range r.versions() {
		if strings.Contains(v, "2.0") {
			t.Errorf("the invalid version left %s behind", v)
		}
	}
}

func TestAppPowerCutAtEveryJournalWrite(t *testing.T) {
	for _, health := range []string{"ok", "bad"} {
		want := map[string]State{"ok": StateCommitted, "bad": StateRolledBack}[health]
		t.Run(health, func(t *testing.T) {
			for n := 1; ; n++ {
				r := newAppRig(t)
				if _, err := r.engine(r.withApps).Install(t.Context(), Request{Target: r.publishApp("1.0", "ok")}); err != nil {
					t.Fatal(err)
				}
				tg := r.publishApp("2.0", health)
				ctx, cancel := context.WithCancel(t.Context())
				p := &powerCut{at: n, cancel: cancel}
				e := r.engine(r.withApps)
				p.arm(e)
				out, err := e.Install(ctx, Request{Target: tg})
				for i := 0; !out.State.Final() || p.engine == e; i++ {
					if i == 10 {
						t.Fatalf("cut at write %d: stuck in %s: %v", n, out.State, err)
					}
					e = r.engine(r.withApps)
					p.arm(e)
					if out, err = e.Resume(t.Context()); out.Target != tg.Name {
						// Cut before the update was recorded: the agent
						// starts it again, as it would.
						out, err = e.Install(t.Context(), Request{Target: tg})
					}
				}
				cancel()
				wantCurrent := map[State]string{StateCommitted: "2.0", StateRolledBack: "1.0"}[want]
				if out.State != want || r.current() != wantCurrent {
					t.Fatalf("cut at write %d: update ended %+v (%v) with current -> %s; want %s, %s", n, out, err, r.current(), want, wantCurrent)
				}
				if p.engine == nil {
					t.Logf("an app update takes %d journal writes", n-1)
					return
				}
			}
		})
	}
}

func TestAppName(t *testing.T) {
	tests := []struct {
		target, want string
	}{
		{"apps/mqtt-bridge/mqtt-bridge-1.2.0.tar", "mqtt-bridge"},
		{"x/demo/1.tar.gz", "demo"},
		{"demo-1.tar", ""},
		{"apps/../1.tar", ""},
		{"apps/Bad Name/1.tar", ""},
	}
	for _, tt := range tests {
		got, err := AppName(tt.target)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("AppName(%q) = %q, %v; want %q", tt.target, got, err, tt.want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemo tells the demo's story in short: the binaries built from this
// tree, two A/B devices (the first commits, the second's web interface
// fails its health check and it rolls back) and 50 simulated devices. It
// takes about 40 seconds once the binaries are in the build cache, most of
// it the failing device's trial (the sum of its health checks' timeouts).
func TestDemo(t *testing.T) {
	bin := buildBinaries(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Second)
	defer cancel()
	var out bytes.Buffer
	o := options{bin: bin, dir: filepath.Join(t.TempDir(), "demo"), devices: 2, fleet: 50, fleetEvents: 2, timeout: 90 * time.Second}
	res, err := tell(ctx, o, &out)
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("tell = %v, want the story told", err)
	}

	want := map[string]struct{ result, reason, version string }{
		"rtr-01": {phaseCommitted, "installed", "23.05.3"},
		"gw-02":  {phaseRolledBack, "health-check-failed:web-ui", "1.4.0"},
	}
	for id, w := range want {
		got, ok := res.devices[id]
		switch {
		case !ok:
			t.Errorf("device %s: no result", id)
		case got.outcome == nil:
			t.Errorf("device %s: no outcome at the gateway (phase %s)", id, got.phase)
		case got.outcome.Result != w.result || got.outcome.Reason != w.reason || got.version != w.version:
			t.Errorf("device %s ended %s (%s) on version %s, want %s (%s) on %s",
				id, got.outcome.Result, got.outcome.Reason, got.version, w.result, w.reason, w.version)
		}
	}
	if got := res.devices["rtr-01"].boots; got != 1 {
		t.Errorf("rtr-01 rebooted %d times, want 1 (into the trial)", got)
	}
	if got := res.devices["gw-02"].boots; got != 2 {
		t.Errorf("gw-02 rebooted %d times, want 2 (into the trial and back)", got)
	}
	if res.fleet.Devices != 50 || res.fleet.Acked != 100 {
		t.Errorf("fleet: %d devices, %d events acknowledged; want 50 and 100", res.fleet.Devices, res.fleet.Acked)
	}
	for _, line := range []string{
		"rtr-01    committed: 23.05.2 → 23.05.3 installed",
		"gw-02     health check web-ui: GET /devices/gw-02/web-ui answered 503",
		"gw-02     rolled back to 1.4.0, reason health-check-failed:web-ui",
		"fleet     all 50 simulated devices are in",
		"Fleet of tenant acme at the gateway: 52 devices by board and version",
		res.api + "/api/v1/devices?tenant=acme",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("the output has no line with %q", line)
		}
	}

	if len(res.pids) < 10 { // patchbay-release ×4, the gateway, the agents 2+3 times
		t.Errorf("the demo started %d processes, want the release tool's, the gateway and the agents", len(res.pids))
	}
	for _, pid := range res.pids {
		if alive(pid) {
			t.Errorf("process %d still runs after the demo ended", pid)
		}
	}
}

// buildBinaries builds the agent, the gateway and the release tool into a
// temporary directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), goBin, "build", "-o", dir+string(filepath.Separator),
		"patchbay.dev/agent/cmd/patchbay-agent", "patchbay.dev/gateway/cmd/patchbay-gateway", "patchbay.dev/tools/cmd/patchbay-release")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as the gateway's own tests build it, sharing the build cache
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// alive reports whether a process runs: signal 0 reaches it.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"defaults", nil, true},
		{"short", []string{"--devices", "2", "--fleet", "0"}, true},
		{"one device cannot tell both endings", []string{"--devices", "1"}, false},
		{"arguments", []string{"extra"}, false},
		{"negative fleet", []string{"--fleet", "-1"}, false},
		{"no time", []string{"--timeout", "0s"}, false},
		{"help", []string{"--help"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.args, &bytes.Buffer{})
			if (err == nil) != tt.ok {
				t.Errorf("parse(%q) = %v, want ok %t", tt.args, err, tt.ok)
			}
			if err != nil && !errors.Is(err, errUsage) {
				t.Errorf("parse(%q) = %v, want an error wrapping errUsage", tt.args, err)
			}
		})
	}
}

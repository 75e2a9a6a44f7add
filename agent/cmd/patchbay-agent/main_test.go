package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"patchbay.dev/firmware/buildinfo"
)

// The agent runs on devices with 16 MB of flash: it must not link the
// gateway, nor the engines only the gateway may use (one of them does not
// even build for MIPS).
func TestAgentLinksNoGatewayCode(t *testing.T) {
	out := goTool(t, "list", "-deps", "-f", "{{.ImportPath}}", "patchbay.dev/agent/cmd/patchbay-agent")
	forbidden := []string{
		"patchbay.dev/gateway",
		"modernc.org/sqlite",
		"github.com/mochi-mqtt/server",
		"github.com/jackc/pgx",
	}
	for _, pkg := range strings.Fields(out) {
		for _, f := range forbidden {
			if pkg == f || strings.HasPrefix(pkg, f+"/") {
				t.Errorf("patchbay-agent depends on %s (forbidden prefix %s)", pkg, f)
			}
		}
	}
}

// The agent must start on the devices it is built for: build it for ARM and
// MIPS and run "version" under qemu-user.
func TestAgentStartsUnderQEMU(t *testing.T) {
	targets := []struct {
		goarch, variantVar, variant, qemu string
	}{
		{"arm", "GOARM", "5", "qemu-arm-static"},
		{"arm", "GOARM", "7", "qemu-arm-static"},
		{"arm64", "GOARM64", "v8.0", "qemu-aarch64-static"},
		{"mips", "GOMIPS", "softfloat", "qemu-mips-static"},
		{"mipsle", "GOMIPS", "softfloat", "qemu-mipsel-static"},
	}
	for _, tt := range targets {
		t.Run(tt.goarch+tt.variant, func(t *testing.T) {
			qemu, err := exec.LookPath(tt.qemu)
			if err != nil {
				t.Fatalf("%s not found: install Debian package qemu-user-static", tt.qemu)
			}
			bin := filepath.Join(t.TempDir(), "patchbay-agent")
			env := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + tt.goarch}
			if tt.variantVar != "" {
				env = append(env, tt.variantVar+"="+tt.variant)
			}
			goToolEnv(t, env, "build", "-trimpath", "-ldflags", "-s -w -X patchbay.dev/firmware/buildinfo.Version=qemu-test", "-o", bin, ".")
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, qemu, bin, "version", "--json")
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s %s version: %v\n%s", tt.qemu, bin, err, stderr.String())
			}
			var info buildinfo.Info
			if err := json.Unmarshal(stdout.Bytes(), &info); err != nil {
				t.Fatalf("version --json printed %q: %v", stdout.String(), err)
			}
			if info.Arch != tt.goarch || info.Version != "qemu-test" || info.Variant != tt.variant {
				t.Errorf("version under %s = %+v, want arch %s variant %q version qemu-test", tt.qemu, info, tt.goarch, tt.variant)
			}
		})
	}
}

func goTool(t *testing.T, args ...string) string {
	t.Helper()
	return goToolEnv(t, nil, args...)
}

func goToolEnv(t *testing.T, env []string, args ...string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), goBin, args...)
	cmd.Env = append(cmd.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

package releasecli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"patchbay.dev/tools/command"
	"patchbay.dev/tools/release"
	"patchbay.dev/tools/releasecli"
)

// run drives the real command line in-process.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = releasecli.Run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := run(t, "", args...)
	if err != nil {
		t.Fatalf("patchbay-release %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

const metaYAML = `patchbay:
  kind: firmware
  boards: [openwrt-ath79-generic]
  version: "23.05.3"
  cves: [CVE-2024-3094]
  cvss: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
  kev: true
  requires_reboot: true
  min_version: "22.03.0"
  eol: 2027-06-30
`

func TestReleaseLifecycle(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	offline := filepath.Join(dir, "offline")
	g := []string{"--repo", repo, "--root-keys", offline, "--now", "2030-01-02T03:04:05Z"}
	cmd := func(args ...string) []string { return append(append([]string(nil), g...), args...) }

	out := mustRun(t, cmd("init", "--threshold", "targets=1", "--expiry", "timestamp=12h")...)
	if !strings.Contains(out, "created repository") || !strings.Contains(out, "targets   threshold 1") {
		t.Errorf("init printed:\n%s", out)
	}
	img := filepath.Join(dir, "sysupgrade.bin")
	os.WriteFile(img, bytes.Repeat([]byte("img"), 1000), 0o644)
	metaFile := filepath.Join(dir, "23.05.3.yaml")
	os.WriteFile(metaFile, []byte(metaYAML), 0o644)

	out = mustRun(t, cmd("add", "--meta", metaFile, "--name", "openwrt/ath79/sysupgrade.bin", img)...)
	if !strings.Contains(out, "added openwrt/ath79/sysupgrade.bin to targets: 3000 bytes") || !strings.Contains(out, "severity critical") {
		t.Errorf("add printed:\n%s", out)
	}
	mustRun(t, cmd("delegate", "--path", "acme/*", "--threshold", "1", "acme")...)
	out, _, err := run(t, "app bytes from stdin", cmd("add", "--role", "acme", "--name", "acme/agent.ipk",
		"--kind", "app", "--board", "acme-r1", "--board", "acme-r2", "--version", "1.2.0", "--released", "2030-01-01", "-")...)
	if err != nil || !strings.Contains(out, "added acme/agent.ipk to acme") {
		t.Fatalf("add from stdin: %v\n%s", err, out)
	}

	out = mustRun(t, cmd("list", "--json")...)
	var list []release.TargetInfo
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	if len(list) != 2 || list[0].Role != "acme" || list[1].Meta == nil || !list[1].Meta.KEV || list[0].Meta.Released.String() != "2030-01-01" {
		t.Errorf("list --json = %+v", list)
	}
	out = mustRun(t, cmd("list")...)
	if !strings.Contains(out, "openwrt/ath79/sysupgrade.bin  targets  firmware  23.05.3") {
		t.Errorf("list printed:\n%s", out)
	}

	out = mustRun(t, cmd("publish")...)
	if !strings.Contains(out, "published snapshot 1, timestamp 1") {
		t.Errorf("publish printed:\n%s", out)
	}
	out = mustRun(t, cmd("timestamp", "--json")...)
	var p release.Published
	if json.Unmarshal([]byte(out), &p); p.Timestamp != 2 {
		t.Errorf("timestamp --json = %s", out)
	}
	out = mustRun(t, cmd("rotate", "root")...)
	if !strings.Contains(out, "root version 2") || !strings.Contains(out, "retired "+offline) {
		t.Errorf("rotate root printed:\n%s", out)
	}
	mustRun(t, cmd("rotate", "acme")...)
	mustRun(t, cmd("remove", "openwrt/ath79/sysupgrade.bin")...)
	mustRun(t, cmd("publish")...)
	out = mustRun(t, cmd("verify", "--root", filepath.Join(repo, "public", "metadata", "1.root.json"))...)
	for _, want := range []string{"root         version 2", "acme         version 2", "targets: 1", "ok: a device would accept"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify printed no %q:\n%s", want, out)
		}
	}

	// Thirteen hours later the 12h timestamp has expired.
	late := append([]string{"--repo", repo, "--now", "2030-01-02T16:04:06Z"}, "verify")
	out, _, err = run(t, "", late...)
	if !errors.Is(err, release.ErrVerifyFailed) || command.ExitCode(err) != 1 || !strings.Contains(out, "problem: refresh trusted metadata (last fetched timestamp.json): expired metadata error: timestamp.json is expired") {
		t.Errorf("verify of an expired repository = %v (exit %d)\n%s", err, command.ExitCode(err), out)
	}
}

func TestUsageErrors(t *testing.T) {
	repo := t.TempDir()
	mustRun(t, "--repo", repo, "init")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"add without image", []string{"--repo", repo, "add", "--kind", "app"}, "takes one IMAGE"},
		{"add with both metadata sources", []string{"--repo", repo, "add", "--meta", "m.yaml", "--version", "1", "img"}, "--version and --meta"},
		{"add with bad metadata", []string{"--repo", repo, "add", "--kind", "kernel", "--board", "b", "--version", "1", "img"}, `kind: "kernel" is not`},
		{"bad threshold", []string{"--repo", t.TempDir(), "init", "--threshold", "targets=zero"}, "want a positive number"},
		{"bad key type", []string{"--repo", repo, "rotate", "--key-type", "rsa", "targets"}, "want ed25519 or ecdsa-p256"},
		{"bad now", []string{"--repo", repo, "--now", "tomorrow", "list"}, "want RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := run(t, "", tt.args...)
			if !errors.Is(err, command.ErrUsage) || command.ExitCode(err) != 2 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v (exit %d), want a usage error saying %q", err, command.ExitCode(err), tt.want)
			}
		})
	}
}

func TestFailures(t *testing.T) {
	repo := t.TempDir()
	if _, _, err := run(t, "", "--repo", repo, "list"); !errors.Is(err, release.ErrNoRepository) {
		t.Errorf("list without a repository = %v, want ErrNoRepository", err)
	}
	mustRun(t, "--repo", repo, "init")
	if _, _, err := run(t, "", "--repo", repo, "init"); !errors.Is(err, release.ErrExists) || command.ExitCode(err) != 1 {
		t.Errorf("second init = %v, want ErrExists and exit 1", err)
	}
	if _, _, err := run(t, "", "--repo", repo, "timestamp"); err == nil || !strings.Contains(err.Error(), "nothing published yet") {
		t.Errorf("timestamp before publish = %v", err)
	}
	mustRun(t, "--repo", repo, "delegate", "--path", "acme/*", "acme")
	_, _, err := run(t, "x", "--repo", repo, "add", "--role", "acme", "--name", "other/x.bin", "--kind", "app", "--board", "b", "--version", "1", "-")
	if !errors.Is(err, release.ErrOutsidePaths) {
		t.Errorf("add outside the role's paths = %v, want ErrOutsidePaths", err)
	}
}

func TestHelpAndVersion(t *testing.T) {
	out := mustRun(t, "--help")
	for _, c := range []string{"init", "add", "remove", "list", "delegate", "publish", "timestamp", "rotate", "verify", "version"} {
		if !strings.Contains(out, "\n  "+c+" ") {
			t.Errorf("--help lists no %s:\n%s", c, out)
		}
	}
	out = mustRun(t, "add", "--help")
	if !strings.Contains(out, "Usage: patchbay-release add [flags] IMAGE") || !strings.Contains(out, "-allow-downgrade") {
		t.Errorf("add --help:\n%s", out)
	}
	if out := mustRun(t, "version"); !strings.Contains(out, "patchbay-release") {
		t.Errorf("version printed %q", out)
	}
}

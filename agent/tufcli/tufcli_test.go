package tufcli_test

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/agent/tufcli"
	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/trust/trusttest"
	"patchbay.dev/tools/command"
	"patchbay.dev/tools/release"
)

const name = "openwrt/ath79/sysupgrade-23.05.3.bin"

var image = bytes.Repeat([]byte("sysupgrade "), 3000)

type env struct {
	repo              *trusttest.Repo
	root, meta, tgDir string
	now               string
}

func setup(t *testing.T) *env {
	t.Helper()
	repo := trusttest.New(t, release.InitOptions{})
	repo.Add(name, image, meta.Target{Kind: meta.KindFirmware, Boards: []string{"openwrt-ath79-generic"}, Version: "23.05.3"}, "")
	repo.Publish()
	dir := t.TempDir()
	e := &env{repo: repo, root: filepath.Join(dir, "root.json"), meta: filepath.Join(dir, "metadata"), tgDir: filepath.Join(dir, "targets"),
		now: trusttest.Epoch.Add(time.Hour).Format(time.RFC3339)}
	if err := os.WriteFile(e.root, repo.Root(), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// tuf runs the tuf command in-process and returns its exit status and
// stderr, as the agent's main would.
func tuf(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := tufcli.Command().Execute(context.Background(), args, command.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return command.ExitCode(err), errOut.String()
}

func (e *env) flags(names ...string) []string {
	f := []string{"--metadata-dir", e.meta, "--metadata-url", e.repo.MetadataURL(), "--now", e.now,
		"--target-dir", e.tgDir, "--target-base-url", e.repo.TargetsURL()}
	for _, n := range names {
		f = append(f, "--target-name", n)
	}
	return f
}

func TestInitRefreshDownload(t *testing.T) {
	e := setup(t)
	if code, stderr := tuf(t, "--metadata-dir", e.meta, "init", e.root); code != 0 {
		t.Fatalf("init: exit %d: %s", code, stderr)
	}
	if len(e.repo.Requests()) != 0 {
		t.Errorf("init made requests: %v", e.repo.Requests())
	}
	if code, stderr := tuf(t, append(e.flags(), "refresh")...); code != 0 {
		t.Fatalf("refresh: exit %d: %s", code, stderr)
	}
	var files []string
	for f := range trusttest.Dir(t, e.meta) {
		files = append(files, f)
	}
	if len(files) != 4 {
		t.Errorf("metadata dir after refresh: %v, want root, timestamp, snapshot, targets", files)
	}
	// Flags in another order, then the command.
	args := []string{"--target-name", name, "--target-dir", e.tgDir, "--now", e.now, "--metadata-url", e.repo.MetadataURL(),
		"--target-base-url", e.repo.TargetsURL(), "--metadata-dir", e.meta, "download"}
	if code, stderr := tuf(t, args...); code != 0 {
		t.Fatalf("download: exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile(filepath.Join(e.tgDir, url.PathEscape(name)))
	if err != nil || !bytes.Equal(got, image) {
		t.Fatalf("downloaded target: %v", err)
	}
	// A verified copy is not fetched again.
	e.repo.ResetRequests()
	if code, stderr := tuf(t, args...); code != 0 {
		t.Fatalf("second download: exit %d: %s", code, stderr)
	}
	for _, r := range e.repo.Requests() {
		if strings.HasPrefix(r, "/targets/") {
			t.Errorf("second download fetched %s again", r)
		}
	}
}

func TestFailures(t *testing.T) {
	e := setup(t)
	if code, stderr := tuf(t, "--metadata-dir", e.meta, "init", e.root); code != 0 {
		t.Fatalf("init: exit %d: %s", code, stderr)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"expired at --now", append(e.flags(), "--now", "2030-01-04T00:00:00Z", "refresh"), "timestamp.json is expired"},
		{"unknown target stops the download", append(e.flags("no/such.bin", name), "download"), "no/such.bin: target not found"},
		{"no metadata url", []string{"--metadata-dir", e.meta, "refresh"}, "--metadata-url are required"},
		{"no target name", append(e.flags(), "download"), "--target-name are required"},
		{"bad --now", append(e.flags(), "--now", "soon", "refresh"), "want RFC 3339"},
		{"init of a missing file", []string{"--metadata-dir", e.meta, "init", "/nonexistent/root.json"}, "no such file"},
		{"init without metadata dir", []string{"init", e.root}, "--metadata-dir is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := trusttest.Dir(t, e.meta)
			code, stderr := tuf(t, tt.args...)
			if code != 1 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, tt.want)
			}
			if c := trusttest.Changed(before, trusttest.Dir(t, e.meta)); len(c) > 0 && tt.name != "unknown target stops the download" {
				t.Errorf("trusted metadata changed: %v", c)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(e.tgDir, url.PathEscape(name))); !os.IsNotExist(err) {
		t.Errorf("download went on after the first failure: %v", err)
	}
}

// The agent runs on 16 MB of flash: the tuf command must not pull in the
// release tool, the gateway or big frameworks.
func TestDependenciesStaySmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v (the go tool is needed for this test)", err)
	}
	var bad []string
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"patchbay.dev/tools/release", "patchbay.dev/gateway", "github.com/spf13/cobra", "modernc.org/sqlite", "github.com/jackc/pgx"} {
			if strings.HasPrefix(dep, banned) {
				bad = append(bad, dep)
			}
		}
	}
	if diff := cmp.Diff([]string(nil), bad); diff != "" {
		t.Errorf("agent/tufcli depends on (-want +got):\n%s", diff)
	}
}

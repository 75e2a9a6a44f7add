package selfupdate_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"patchbay.dev/agent/selfupdate"
	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/trust"
	"patchbay.dev/firmware/trust/trusttest"
	"patchbay.dev/tools/release"
)

func setup(t *testing.T, image []byte, kind meta.Kind) (*trust.Client, trust.Target, *trusttest.Repo) {
	t.Helper()
	repo := trusttest.New(t, release.InitOptions{})
	repo.Add("agent/patchbay-agent", image, meta.Target{Kind: kind, Boards: []string{"rpi-arm64-gateway"}, Version: "1.1.0"}, "")
	repo.Publish()
	dir := t.TempDir()
	if err := trust.Init(dir, repo.Root()); err != nil {
		t.Fatal(err)
	}
	c, err := trust.New(trust.Options{MetadataDir: dir, Remote: repo.Remote(), Now: func() time.Time { return trusttest.Epoch.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tg, err := s.Target(context.Background(), "agent/patchbay-agent")
	if err != nil {
		t.Fatal(err)
	}
	return c, tg, repo
}

func oldBinary(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "patchbay-agent")
	if err := os.WriteFile(exe, []byte("old agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestApplyReplacesBinary(t *testing.T) {
	image := bytes.Repeat([]byte("new agent "), 50000)
	c, tg, _ := setup(t, image, meta.KindAgent)
	exe := oldBinary(t)
	if err := selfupdate.Apply(t.Context(), c, tg, exe); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	got, err := os.ReadFile(exe)
	if err != nil || !bytes.Equal(got, image) {
		t.Fatalf("binary after Apply: %d bytes, %v; want the %d-byte target", len(got), err, len(image))
	}
	if fi, _ := os.Stat(exe); fi.Mode().Perm() != 0o755 {
		t.Errorf("mode after Apply = %v, want 0755", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(exe))
	if len(entries) != 1 {
		t.Errorf("directory after Apply holds %d entries, want only the binary", len(entries))
	}
}

func TestApplyKeepsOldBinaryOnBadImage(t *testing.T) {
	image := bytes.Repeat([]byte("new agent "), 1000)
	c, tg, repo := setup(t, image, meta.KindAgent)
	// The server now hands out other bytes of the same length.
	bad := bytes.Repeat([]byte("evil agent"), 1000)
	for _, p := range []string{"targets/agent/" + hexName(tg), "targets/agent/patchbay-agent"} {
		repo.WritePublic(p, bad)
	}
	exe := oldBinary(t)
	var mismatch *trust.HashMismatchError
	if err := selfupdate.Apply(t.Context(), c, tg, exe); !errors.As(err, &mismatch) {
		t.Fatalf("Apply of a changed image = %v, want a hash mismatch", err)
	}
	if got, _ := os.ReadFile(exe); string(got) != "old agent" {
		t.Errorf("binary after a failed Apply = %q, want the old one", got)
	}
}

func TestApplyRefusesOtherKinds(t *testing.T) {
	c, tg, _ := setup(t, []byte("firmware image"), meta.KindFirmware)
	exe := oldBinary(t)
	if err := selfupdate.Apply(t.Context(), c, tg, exe); !errors.Is(err, selfupdate.ErrNotAgent) {
		t.Fatalf("Apply of a firmware target = %v, want ErrNotAgent", err)
	}
}

func hexName(tg trust.Target) string {
	return hex.EncodeToString(tg.Hashes["sha256"]) + ".patchbay-agent"
}

//go:build unix

package bootenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// holdLock takes the flock on path, as another fw_setenv would, until the
// returned function is called.
func holdLock(t *testing.T, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { f.Close() }
}

func TestLockWaitsAndHonoursContext(t *testing.T) {
	e := newEnvFile(t, false, 0x100)
	cfg, err := LoadConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LockPath = filepath.Join(t.TempDir(), "fw_printenv.lock")
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	release := holdLock(t, cfg.LockPath)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read while the lock is held = %v, want context.DeadlineExceeded", err)
	}
	go func() {
		time.Sleep(30 * time.Millisecond)
		release()
	}()
	if err := s.Write(t.Context(), mustEnv(t, map[string]string{"a": "1"})); err != nil {
		t.Fatalf("Write once the lock is released = %v", err)
	}
}

// TestToolsShareTheLock checks that fw_setenv waits for the lock this
// package takes by default.
func TestToolsShareTheLock(t *testing.T) {
	if testLockPath(t) != DefaultLockPath {
		t.Skipf("cannot create %s as this user", DefaultLockPath)
	}
	e := newEnvFile(t, false, 0x1000)
	if err := e.store().Write(t.Context(), mustEnv(t, map[string]string{"a": "1"})); err != nil {
		t.Fatal(err)
	}
	release := holdLock(t, DefaultLockPath)
	const hold = 300 * time.Millisecond
	start := time.Now()
	time.AfterFunc(hold, release)
	e.setenv("", "a", "2")
	if waited := time.Since(start); waited < hold {
		t.Errorf("fw_setenv finished after %v while the lock was held for %v", waited, hold)
	}
	if got := e.mustPrintenv(); got["a"] != "2" {
		t.Errorf("fw_printenv = %v, want a=2", got)
	}
}

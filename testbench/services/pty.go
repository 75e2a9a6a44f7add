package services

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// PTYPair is a null-modem cable made of two pseudo-terminals joined by
// socat: what is written to A is read from B and the other way round.
type PTYPair struct {
	A   string // path of one end (a symbolic link to /dev/pts/N)
	B   string // path of the other end
	Dir string

	t  testing.TB
	mu sync.Mutex
	p  *process // nil once killed
}

// StartPTYPair starts socat with two raw pseudo-terminals without echo and
// returns once both ends exist. It is stopped when the test ends.
func StartPTYPair(t testing.TB) *PTYPair {
	t.Helper()
	binary, err := lookBinary("socat", "socat")
	if err != nil {
		t.Fatalf("start pty pair: %v", err)
	}
	dir := t.TempDir()
	pp := &PTYPair{A: filepath.Join(dir, "a"), B: filepath.Join(dir, "b"), Dir: dir, t: t}
	t.Cleanup(pp.Kill)
	cmd := exec.Command(binary, "-d", "-d",
		"pty,raw,echo=0,link="+pp.A,
		"pty,raw,echo=0,link="+pp.B)
	cmd.Dir = dir
	p, err := startProcess("socat", filepath.Join(dir, "socat.log"), cmd, nil)
	if err != nil {
		t.Fatalf("start pty pair: %v", err)
	}
	pp.p = p
	ctx, cancel := context.WithTimeout(t.Context(), readyTimeout)
	defer cancel()
	// socat creates both links before it starts transferring.
	err = p.waitReady(ctx, func(context.Context) error {
		for _, link := range []string{pp.A, pp.B} {
			if _, err := os.Stat(link); err != nil {
				return fmt.Errorf("%s not there yet: %w", link, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("start pty pair: %v\nlog:\n%s", err, p.log())
	}
	return pp
}

// Kill kills socat, as if the cable were pulled: both ends go away. Killing
// it twice does nothing.
func (pp *PTYPair) Kill() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.p == nil {
		return
	}
	if err := pp.p.stop(syscall.SIGKILL); err != nil {
		pp.t.Errorf("stop pty pair: %v", err)
	}
	pp.p = nil
}

// Log returns the end of socat's log.
func (pp *PTYPair) Log() string { return readTail(filepath.Join(pp.Dir, "socat.log")) }

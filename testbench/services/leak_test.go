package services

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// groups returns the process groups this package has started so far.
func groups() map[int]string {
	out := make(map[int]string)
	started.Range(func(k, v any) bool {
		out[k.(int)] = v.(string)
		return true
	})
	return out
}

// Every service, children included, is gone once its test's cleanup ran.
func TestNoProcessLeftBehind(t *testing.T) {
	before := groups()
	var children []procInfo
	t.Run("services", func(t *testing.T) {
		StartMosquitto(t, MosquittoConfig{Persistence: true})
		s := StartSNMPD(t, SNMPDConfig{Vars: recorded})
		StartPTYPair(t)
		pg, err := startPostgresServer(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := pg.stop(); err != nil {
				t.Error(err)
			}
		})
		// The readiness GET started snmpd's pass_persist helper, and
		// postgres runs its auxiliary processes (in sessions of their own).
		for name, p := range map[string]*process{"snmpd": s.p, "postgres": pg.p} {
			tree := p.tree()
			if len(tree) == 0 {
				t.Errorf("%s (pid %d) has no children", name, p.pid())
			}
			children = append(children, tree...)
		}
	})
	for _, pi := range children {
		if pi.alive() {
			t.Errorf("child left behind: %s", pi)
		}
	}
	after := groups()
	if len(after)-len(before) < 5 { // mosquitto, snmpd, socat, initdb, postgres
		t.Errorf("the subtest started %d process groups, want at least 5", len(after)-len(before))
	}
	for pgid, name := range after {
		if _, old := before[pgid]; old {
			continue
		}
		if left := groupMembers(pgid); len(left) > 0 {
			t.Errorf("%s (process group %d) left behind: %s", name, pgid, strings.Join(left, "; "))
		}
	}
}

// A test binary that dies without running its cleanups (a panic, a test
// timeout) takes its services with it.
func TestServicesDieWithTestBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), exe, "-test.run=^TestHelperStartAndDie$")
	cmd.Env = append(os.Environ(), "PATCHBAY_SERVICES_TEST_DIE=1")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("helper test binary: %v, want exit status 3; output:\n%s", err, out)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(out), "mosquitto pid ")))
	if err != nil {
		t.Fatalf("helper printed %q, want \"mosquitto pid N\"", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pi, ok := readProc(pid)
		if !ok || pi.state == "Z" || pi.comm != "mosquitto" {
			return
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("mosquitto (pid %d) outlived the test binary that started it", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHelperStartAndDie is TestServicesDieWithTestBinary's test binary: it
// starts a broker and exits at once, cleanups not run. Run normally, it
// does nothing.
func TestHelperStartAndDie(t *testing.T) {
	if os.Getenv("PATCHBAY_SERVICES_TEST_DIE") == "" {
		return
	}
	m := StartMosquitto(t, MosquittoConfig{})
	fmt.Printf("mosquitto pid %d\n", m.proc.pid())
	os.Exit(3)
}

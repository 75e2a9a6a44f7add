package services

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// readyTimeout bounds how long a service may take to accept a first
	// client connection; initdb is the slowest step, a few seconds.
	readyTimeout = 60 * time.Second
	// stopGrace is how long a service may take to shut down cleanly after
	// its stop signal before it is killed.
	stopGrace = 10 * time.Second
	// logTail is how much of a service's log a failure message quotes.
	logTail = 8 << 10
)

// started records the process groups this package created, by process group
// ID (the leader's PID), so that Main and the tests can look for members that
// outlived a stop.
var started sync.Map // int → string (service name)

// process is one running service: the leader of its own process group, its
// stdout and stderr appended to a log file.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once cmd.Wait returned
	waitErr error         // cmd.Wait's result, valid after done
}

// startProcess starts cmd as the leader of a new process group with its
// output appended to logPath. cred, when not nil, is who the process runs as.
// A goroutine waits for the process; it ends when the process does, which
// stop guarantees.
func startProcess(name, logPath string, cmd *exec.Cmd, cred *syscall.Credential) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr(cred)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	started.Store(cmd.Process.Pid, name)
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid is the leader's process ID, which is also the process group ID.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the leader has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signalGroup sends sig to every process of the group. A group that no
// longer exists is not an error.
func (p *process) signalGroup(sig syscall.Signal) error {
	err := syscall.Kill(-p.pid(), sig)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s process group %d: %w", p.name, p.pid(), err)
	}
	return nil
}

// stop sends sig to the group, gives the leader stopGrace to exit, then
// kills what is left of the group and of the leader's descendants (which
// may have left the group, as PostgreSQL's backends do with setsid) and
// waits until none of them is left.
func (p *process) stop(sig syscall.Signal) error {
	tree := p.tree()
	var errs []error
	if !p.exited() {
		errs = append(errs, p.signalGroup(sig))
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			errs = append(errs, fmt.Errorf("%s ignored %s for %v; killed", p.name, sig, stopGrace))
		}
	}
	errs = append(errs, p.killTree(tree))
	return errors.Join(errs...)
}

// kill kills the group and the leader's descendants at once.
func (p *process) kill() error { return p.killTree(p.tree()) }

// killTree sends SIGKILL to the group and to tree, and waits until the
// leader has been reaped and none of them is left.
func (p *process) killTree(tree []procInfo) error {
	deadline := time.Now().Add(stopGrace)
	for {
		err := p.signalGroup(syscall.SIGKILL)
		var left []string
		for _, pi := range tree {
			if pi.alive() {
				_ = syscall.Kill(pi.pid, syscall.SIGKILL)
				left = append(left, pi.String())
			}
		}
		left = append(left, groupMembers(p.pid())...)
		if err == nil && len(left) == 0 && p.exited() {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.Join(err, fmt.Errorf("%s (pid %d) still running after SIGKILL: %s", p.name, p.pid(), strings.Join(left, "; ")))
		}
		select {
		case <-p.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tree lists the other processes of the group and the leader's
// descendants.
func (p *process) tree() []procInfo {
	all := processes()
	children := make(map[int][]procInfo)
	for _, pi := range all {
		children[pi.ppid] = append(children[pi.ppid], pi)
	}
	seen := map[int]bool{p.pid(): true}
	var out []procInfo
	var walk func(pid int)
	walk = func(pid int) {
		for _, c := range children[pid] {
			if !seen[c.pid] {
				seen[c.pid] = true
				out = append(out, c)
				walk(c.pid)
			}
		}
	}
	walk(p.pid())
	for _, pi := range all {
		if pi.pgrp == p.pid() && !seen[pi.pid] {
			seen[pi.pid] = true
			out = append(out, pi)
		}
	}
	return out
}

// log returns the end of the process's log, for failure messages.
func (p *process) log() string {
	return readTail(p.logPath)
}

// waitReady calls probe until it succeeds, the process exits or ctx ends.
func (p *process) waitReady(ctx context.Context, probe func(context.Context) error) error {
	delay := 10 * time.Millisecond
	for {
		err := probe(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v)", p.name, p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last attempt: %v)", p.name, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// readTail returns up to logTail bytes from the end of the file at path.
func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > logTail {
		b = append([]byte("…"), b[len(b)-logTail:]...)
	}
	return strings.TrimSpace(string(b))
}

// procInfo is what /proc says about one process.
type procInfo struct {
	pid, ppid, pgrp int
	state           string // R, S, D, Z, …
	comm            string
	start           string // start time in clock ticks after boot, which tells a reused PID apart
}

func (pi procInfo) String() string {
	return fmt.Sprintf("pid %d (%s) state %s ppid %d pgrp %d", pi.pid, pi.comm, pi.state, pi.ppid, pi.pgrp)
}

// alive reports whether the process is still running: not exited, not a
// zombie, and not replaced by another process with the same PID.
func (pi procInfo) alive() bool {
	now, ok := readProc(pi.pid)
	return ok && now.start == pi.start && now.state != "Z" && now.state != "X"
}

// processes lists the processes of the system from /proc.
func processes() []procInfo {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pi, ok := readProc(pid); ok {
			out = append(out, pi)
		}
	}
	return out
}

// readProc reads /proc/PID/stat (proc(5)); ok is false once the process
// has gone.
func readProc(pid int) (pi procInfo, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procInfo{}, false
	}
	// pid (comm) state ppid pgrp …; comm may hold spaces and parentheses,
	// so split at the last ')'.
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procInfo{}, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 20 {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	return procInfo{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0], comm: s[open+1 : end], start: f[19]}, true
}

// groupMembers describes the running processes whose process group is
// pgid. Zombies do not count: an orphan's is reaped by init (or, where
// init does not reap, by no one, but it runs no more).
func groupMembers(pgid int) []string {
	var out []string
	for _, pi := range processes() {
		if pi.pgrp == pgid && pi.state != "Z" && pi.state != "X" {
			out = append(out, pi.String())
		}
	}
	return out
}

// leftovers describes the processes that are children of this test binary
// or members of a process group this package started.
func leftovers() []string {
	self := os.Getpid()
	var out []string
	for _, pi := range processes() {
		_, ours := started.Load(pi.pgrp)
		if pi.ppid == self || (ours && pi.pid != self) {
			out = append(out, pi.String())
		}
	}
	return out
}

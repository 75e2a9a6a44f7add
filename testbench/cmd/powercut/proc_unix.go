//go:build unix

package main

import (
	"os"
	"os/exec"
	"syscall"
)

// openTrace returns a tracer writing to the inherited descriptor fd, which
// the agent's own children (health commands) do not inherit.
func openTrace(fd int) *tracer {
	if fd < 0 {
		return nil
	}
	syscall.CloseOnExec(fd)
	return &tracer{w: os.NewFile(uintptr(fd), "trace")}
}

// ownGroup makes cmd the leader of a new process group, so that a power
// cut takes its children (health commands) with it.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// cutPower kills the process group of pid with SIGKILL.
func cutPower(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }

// killedByCut reports whether a process ended by SIGKILL.
func killedByCut(ps *os.ProcessState) bool {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

package services

import "syscall"

// sysProcAttr puts a service in its own process group, so that stopping it
// reaches its children, and has the kernel kill it if the test binary dies
// first (a test timeout panics the binary without running cleanups).
// Go sets the parent-death signal after switching to cred, so the switch
// does not clear it.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
}

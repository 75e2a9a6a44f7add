//go:build unix && !linux

package services

import "syscall"

// sysProcAttr puts a service in its own process group, so that stopping it
// reaches its children. Without Linux's parent-death signal a service
// outlives a test binary that crashes.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}

package main

import "syscall"

// sysProcAttr puts a child in its own process group, so that Ctrl-C in the
// terminal reaches only the demo, which then stops its children in order
// (agents, then the gateway); and has the kernel kill the child if the demo
// dies without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

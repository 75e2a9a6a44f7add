package main

import "syscall"

// childAttr has the kernel kill a process the benchmark starts (mosquitto,
// mosquitto_pub, mosquitto_sub) when the benchmark dies first: killed by
// a signal, or by SIGPIPE when its output is cut short, it runs no
// deferred stop.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

//go:build !linux

package main

import "syscall"

// childAttr is nil without Linux's parent-death signal: a process the
// benchmark starts outlives a benchmark that dies without stopping it.
func childAttr() *syscall.SysProcAttr { return nil }

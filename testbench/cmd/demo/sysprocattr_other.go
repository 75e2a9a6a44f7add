//go:build !linux

package main

import "syscall"

// sysProcAttr leaves a child in the demo's process group: Ctrl-C in the
// terminal then reaches the children directly, and a child outlives a demo
// that crashes. Process groups and the parent-death signal are Linux's here
// (the demo runs where the agent's file-backed devices do).
func sysProcAttr() *syscall.SysProcAttr { return nil }

//go:build !unix

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

func openTrace(int) *tracer { return nil }

func ownGroup(*exec.Cmd) {}

func cutPower(int) error {
	return fmt.Errorf("power cuts need SIGKILL of a process group; run the campaign on Linux: %w", errors.ErrUnsupported)
}

func killedByCut(*os.ProcessState) bool { return false }

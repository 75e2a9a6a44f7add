// Command powercut is the power-cut campaign: it installs update after
// update on a simulated A/B device (testbench/sim) with the real agent
// install engine running as a child process, cuts the power (SIGKILL of
// the agent's process group) at random instants across every phase of an
// update, sometimes tearing the write in flight, boots the device with
// the boot loader model, and starts the agent again — until each update is
// committed, rolled back or failed. It prints
//
//	N cuts, B bricked, R resumed, K rolled back, C committed
//
// and exits non-zero if a device was ever bricked (no slot the boot
// loader would boot holds a verified image) or an update ended wrongly.
//
//	go run ./testbench/cmd/powercut -n 500 -seed 7
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "powercut:", err)
		os.Exit(1)
	}
}

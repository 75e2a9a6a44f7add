// Command demo is `make demo`: Patchbay's first whole story, on one machine,
// with every piece real and all traffic on 127.0.0.1.
//
//  1. A TUF repository made with patchbay-release (init, add, publish)
//     holds a signed firmware update for two shipped boards,
//     openwrt-ath79-generic (23.05.2 → 23.05.3, critical, known exploited)
//     and rpi-arm64-gateway (1.4.0 → 1.5.0, high), served over HTTP.
//  2. patchbay-gateway serve runs with its embedded broker and SQLite.
//  3. A handful of simulated A/B devices (testbench/sim) run the real
//     patchbay-agent. Each has an operator board profile that overrides the
//     shipped one with the simulator's file-backed slots and U-Boot
//     environment. The agents install the update by themselves (policy
//     auto_approve high) and exit with status 3 to reboot; the demo then
//     boots the device with the boot loader model and starts the agent
//     again, which runs the trial's health checks and commits. The last
//     device's web interface does not come up on the new version: its
//     health check fails and it rolls back.
//  4. A few hundred lightweight devices (testbench/fleet) report meanwhile.
//  5. The progress is read from the gateway's API and printed as it
//     happens; the demo ends with the fleet table from the API.
//
// It stops every process it started, by PID, when it ends or on Ctrl-C, and
// exits non-zero if the story did not happen.
//
//	go run ./testbench/cmd/demo --bin bin --dir .demo [--devices 5] [--fleet 300] [--keep]
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

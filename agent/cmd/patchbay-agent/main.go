// Command patchbay-agent is Patchbay's on-device daemon. See agent/cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"patchbay.dev/agent/cli"
	"patchbay.dev/tools/command"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "patchbay-agent:", err)
	}
	os.Exit(command.ExitCode(err))
}

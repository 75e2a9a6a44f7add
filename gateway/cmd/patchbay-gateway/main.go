// Command patchbay-gateway is Patchbay's central service. See gateway/cli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"patchbay.dev/gateway/cli"
	"patchbay.dev/tools/command"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "patchbay-gateway:", err)
	}
	os.Exit(command.ExitCode(err))
}

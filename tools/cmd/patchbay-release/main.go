// Command patchbay-release signs firmware and app images into Patchbay's
// TUF repository and publishes it. See tools/releasecli and tools/release.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"patchbay.dev/tools/command"
	"patchbay.dev/tools/releasecli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := releasecli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "patchbay-release:", err)
	}
	os.Exit(command.ExitCode(err))
}

// Command patchbay-flash is the field technician's tool. See tools/flashcli.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"patchbay.dev/tools/command"
	"patchbay.dev/tools/flashcli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := flashcli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "patchbay-flash:", err)
	}
	os.Exit(command.ExitCode(err))
}

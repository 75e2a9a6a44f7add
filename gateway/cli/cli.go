package cli

import (
	"context"
	"io"

	"patchbay.dev/tools/command"
)

const binary = "patchbay-gateway"

// Run executes the gateway's command line args (without the program name).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return root().Execute(ctx, args, command.IO{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

func root() *command.Command {
	return &command.Command{
		Name:  binary,
		Short: "Patchbay's central side: MQTT ingest, fleet store, policies, rollouts, API.",
		Subcommands: []*command.Command{
			serve(),
			pkiCommand(),
			command.Version(binary),
		},
	}
}

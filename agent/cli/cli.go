package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/report"
	"patchbay.dev/agent/tufcli"
	"patchbay.dev/tools/command"
)

const binary = "patchbay-agent"

// Run executes the agent's command line args (without the program name).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return root().Execute(ctx, args, command.IO{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

func root() *command.Command {
	return &command.Command{
		Name:  binary,
		Short: "Patchbay's device agent: discover firmware, verify signed updates, install A/B, report.",
		Subcommands: []*command.Command{
			checkConfig(),
			inventory(),
			tufcli.Command(),
			report.StateCommand(),
			command.Version(binary),
		},
	}
}

func checkConfig() *command.Command {
	var path string
	return &command.Command{
		Name:  "check-config",
		Short: "validate a configuration file and report every problem",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&path, "config", "/etc/patchbay/agent.yaml", "configuration file")
		},
		Run: func(_ context.Context, stdio command.IO, args []string) error {
			if len(args) > 0 {
				return &command.UsageError{Command: binary + " check-config", Problem: "takes no arguments"}
			}
			c, err := config.Load(path)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdio.Stdout, "%s: ok (device %s, tenant %s, site %s)\n", path, c.DeviceID, c.Tenant, c.Site)
			return err
		},
	}
}

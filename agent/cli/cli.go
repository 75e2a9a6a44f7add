package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/daemon"
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
			runDaemon(),
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

func runDaemon() *command.Command {
	var path, cmdline string
	return &command.Command{
		Name:  "run",
		Short: "run the agent: discover, check for signed updates, install, report",
		Long: `Runs until stopped (SIGINT, SIGTERM). After asking the device to reboot
into a new slot it exits with status 3; the next start resumes the update
from its journal (the trial boot, then commit or roll back).`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&path, "config", "/etc/patchbay/agent.yaml", "configuration file")
			fs.StringVar(&cmdline, "cmdline", "/proc/cmdline", "kernel command line file naming the booted slot")
		},
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) > 0 {
				return &command.UsageError{Command: binary + " run", Problem: "takes no arguments"}
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			err = daemon.Run(ctx, daemon.Options{Config: cfg, Root: os.DirFS("/"), Cmdline: cmdline, Logger: cfg.Log.Logger(stdio.Stderr)})
			if errors.Is(err, daemon.ErrRebootRequested) {
				return &command.StatusError{Status: 3, Err: err}
			}
			return err
		},
	}
}

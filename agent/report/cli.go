package report

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/outbox"
	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/tools/command"
)

// StateCommand is patchbay-agent's "state" command: it prints the state
// document the agent reports, from the configuration and the state
// directory, for people or, with --json, as the JSON rendering of the
// document.
func StateCommand() *command.Command { return StateCommandFrom(StateSources{}) }

// StateCommandFrom is StateCommand with the inventory and update state read
// by src.
func StateCommandFrom(src StateSources) *command.Command {
	var (
		configPath string
		stateDir   string
		asJSON     bool
	)
	return &command.Command{
		Name:  "state",
		Short: "print the state document this device reports",
		Long: `State prints what the agent reports to the gateway as its retained state:
identity, board, inventory, update phase and event counters. It reads the
configuration and the state directory and changes nothing, so it may run
while the agent does.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&configPath, "config", "/etc/patchbay/agent.yaml", "configuration file")
			fs.StringVar(&stateDir, "state-dir", "", "state directory (default: state_dir of the configuration)")
			fs.BoolVar(&asJSON, "json", false, "print the state document as JSON")
		},
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) > 0 {
				return &command.UsageError{Command: "patchbay-agent state", Problem: "takes no arguments"}
			}
			cfg, err := config.Load(configPath)
			if err != nil {
				return err
			}
			if stateDir != "" {
				cfg.StateDir = stateDir
			}
			st, ob, err := LoadState(ctx, cfg, src, time.Now())
			if err != nil {
				return fmt.Errorf("state: %w", err)
			}
			if asJSON {
				b, err := telemetry.JSON(&st)
				if err != nil {
					return fmt.Errorf("state: %w", err)
				}
				_, err = fmt.Fprintf(stdio.Stdout, "%s\n", b)
				return err
			}
			return printState(stdio.Stdout, st, ob)
		},
	}
}

// printState renders the document for people.
func printState(w io.Writer, st telemetry.State, ob outbox.Stats) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	line("device", "%s (tenant %s, site %s)", st.DeviceID, st.Tenant, st.Site)
	if len(st.Tags) > 0 {
		line("tags", "%s", strings.Join(st.Tags, ", "))
	}
	line("board", "%s", orNone(st.Board))
	line("agent", "%s", st.AgentVersion)
	update := st.Update.Phase
	if st.Update.Target != "" {
		update += " " + st.Update.Target
	}
	line("update", "%s", update)
	if o := st.Update.LastOutcome; o != nil {
		line("last update", "%s %s→%s at %s", o.Result, o.FromVersion, o.ToVersion, o.At.Format(time.RFC3339))
	}
	line("events", "last seq %d, acknowledged %d, waiting %d (%d bytes), dropped %d", ob.LastSeq, ob.Acked, ob.Pending, ob.PendingBytes, ob.Dropped)
	for _, c := range st.Inventory {
		line("component", "%s\t%s\t%s\t%s", c.ID, c.Kind, orNone(c.Board), orNone(c.Version))
	}
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

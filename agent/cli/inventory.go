package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/discover"
	"patchbay.dev/boards"
	"patchbay.dev/tools/command"
)

func inventory() *command.Command {
	var path, root string
	var asJSON bool
	return &command.Command{
		Name:  "inventory",
		Short: "identify this device and its SNMP neighbours and print what firmware each runs",
		Long: `Reads the local device's identity (device tree, /etc/os-release,
/etc/openwrt_release) under --root and every SNMP neighbour of the
configuration, matches each to a board profile and reads its firmware
version. Neighbours that cannot be read or identified are listed as unknown
with the reason.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&path, "config", "/etc/patchbay/agent.yaml", "configuration file")
			fs.StringVar(&root, "root", "/", "root of the local file system to identify")
			fs.BoolVar(&asJSON, "json", false, "print as JSON")
		},
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) > 0 {
				return &command.UsageError{Command: binary + " inventory", Problem: "takes no arguments"}
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			set, err := loadBoards(cfg)
			if err != nil {
				return err
			}
			log := cfg.Log.Logger(stdio.Stderr)
			comps, err := discover.Inventory(ctx, cfg, set, os.DirFS(root), log)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdio.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(comps)
			}
			tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tBOARD\tVERSION\tADDRESS\tNOTE")
			for _, c := range comps {
				board := c.Board
				if c.Unknown {
					board = "unknown"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Kind, board, c.Version, c.Address, c.Detail)
			}
			return tw.Flush()
		},
	}
}

// loadBoards returns the built-in board profiles plus the operator's own.
func loadBoards(cfg config.Config) (*boards.Set, error) {
	if cfg.BoardsDir == "" {
		return boards.Load()
	}
	return boards.Load(cfg.BoardsDir)
}

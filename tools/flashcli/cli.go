package flashcli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"go.bug.st/serial/enumerator"

	"patchbay.dev/tools/command"
)

const binary = "patchbay-flash"

// Run executes the flash tool's command line args (without the program name).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return root().Execute(ctx, args, command.IO{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

func root() *command.Command {
	return &command.Command{
		Name:  binary,
		Short: "The technician's tool: find a serial port, identify the device, flash a verified image.",
		Subcommands: []*command.Command{
			ports(),
			command.Version(binary),
		},
	}
}

// Port is a serial port as the technician sees it.
type Port struct {
	Path    string `json:"path"`
	USB     bool   `json:"usb"`
	VID     string `json:"vid,omitempty"`
	PID     string `json:"pid,omitempty"`
	Serial  string `json:"serial,omitempty"`
	Product string `json:"product,omitempty"`
}

func ports() *command.Command {
	var asJSON bool
	return &command.Command{
		Name:  "ports",
		Short: "list serial ports with their USB vendor and product ids",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print as JSON")
		},
		Run: func(_ context.Context, stdio command.IO, args []string) error {
			if len(args) > 0 {
				return &command.UsageError{Command: binary + " ports", Problem: "takes no arguments"}
			}
			found, err := enumerator.GetDetailedPortsList()
			if err != nil {
				return fmt.Errorf("list serial ports: %w", err)
			}
			list := make([]Port, 0, len(found))
			for _, p := range found {
				list = append(list, Port{Path: p.Name, USB: p.IsUSB, VID: p.VID, PID: p.PID, Serial: p.SerialNumber, Product: p.Product})
			}
			if asJSON {
				return json.NewEncoder(stdio.Stdout).Encode(list)
			}
			if len(list) == 0 {
				_, err := fmt.Fprintln(stdio.Stdout, "no serial ports found")
				return err
			}
			tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PORT\tUSB ID\tSERIAL\tPRODUCT")
			for _, p := range list {
				id := "-"
				if p.USB {
					id = p.VID + ":" + p.PID
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Path, id, p.Serial, p.Product)
			}
			return tw.Flush()
		},
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// errUsage is returned for bad flags, after the usage was printed.
var errUsage = errors.New("usage")

// run is the command: flags, then the story.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	_, err = tell(ctx, o, stdout)
	return err
}

// parse reads the flags.
func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: demo [flags]\n\nPatchbay's whole story on this machine: a signed repository, the gateway, A/B devices\nrunning the real agent that update themselves (one rolls back), and a simulated fleet.\n\nFlags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.bin, "bin", "bin", "`directory` of patchbay-agent, patchbay-gateway and patchbay-release (make build)")
	fs.StringVar(&o.dir, "dir", ".demo", "work `directory`, wiped at the start (only if a demo made it)")
	fs.IntVar(&o.devices, "devices", 5, "simulated A/B devices running the real agent (the last one rolls back)")
	fs.IntVar(&o.fleet, "fleet", 300, "lightweight simulated devices reporting meanwhile")
	fs.IntVar(&o.fleetEvents, "fleet-events", 3, "events each of them sends")
	fs.DurationVar(&o.timeout, "timeout", 100*time.Second, "time the story may take before the demo gives up")
	fs.BoolVar(&o.keep, "keep", false, "after the table, keep everything running until Ctrl-C")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, errUsage
		}
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, "takes no arguments")
	}
	if o.devices < 2 || o.devices > 50 {
		problems = append(problems, "--devices must be 2–50: one device commits, the last rolls back")
	}
	if o.fleet < 0 || o.fleetEvents < 1 {
		problems = append(problems, "--fleet must not be negative and --fleet-events must be at least 1")
	}
	if o.timeout <= 0 {
		problems = append(problems, "--timeout must be positive")
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "demo:", p)
		}
		fs.Usage()
		return o, errUsage
	}
	return o, nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// run is the command: the campaign, or the agent the campaign starts
// ("agent").
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "agent" {
		return runAgent(ctx, args[1:], stdout, stderr)
	}
	var o options
	fs := flag.NewFlagSet("powercut", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.cuts, "n", 100, "power cuts to make")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of every random choice (the scheduler's timing still varies)")
	fs.Float64Var(&o.cutRate, "cut-rate", 0.5, "share of agent runs that get cut")
	fs.Float64Var(&o.tearRate, "tear-rate", 0.5, "share of cuts that also tear the write in flight")
	fs.StringVar(&o.dir, "dir", "", "work directory (default: a new one in /dev/shm if it can be written, else in $TMPDIR; the power cuts are modelled, fsync speed does not matter)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (agent.log, devices, repository)")
	fs.BoolVar(&o.verbose, "v", false, "print a line per update on stderr")
	fs.Int64Var(&o.slotSize, "slot-size", 4<<20, "bytes per slot")
	fs.IntVar(&o.minImage, "min-image", 256<<10, "smallest image payload in bytes")
	fs.IntVar(&o.maxImage, "max-image", 2<<20, "largest image payload in bytes")
	fs.Int64Var(&o.checkpoint, "checkpoint", 128<<10, "bytes between download checkpoints")
	fs.DurationVar(&o.trial, "trial", 300*time.Millisecond, "trial timeout of the health checks")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || o.cuts < 1 || o.cutRate <= 0 || o.cutRate > 1 || o.minImage < 1 || o.maxImage < o.minImage || int64(o.maxImage)+4096 > o.slotSize {
		return errors.New("usage: powercut [-n cuts] [-seed n] [flags]; -n ≥ 1, 0 < -cut-rate ≤ 1, 1 ≤ -min-image ≤ -max-image, images must fit -slot-size")
	}
	return campaignMain(ctx, o, stdout, stderr)
}

func campaignMain(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	start := time.Now()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("/dev/shm", "powercut-"); err != nil {
			if o.dir, err = os.MkdirTemp("", "powercut-"); err != nil {
				return err
			}
		}
	}
	if !o.keep {
		defer func() { err = errors.Join(err, os.RemoveAll(o.dir)) }()
	} else {
		fmt.Fprintln(stderr, "powercut: work directory", o.dir)
	}
	w, err := newWorld(ctx, o.dir)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, w.close(context.WithoutCancel(ctx))) }()
	agentLog, err := os.Create(filepath.Join(o.dir, "agent.log"))
	if err != nil {
		return err
	}
	defer agentLog.Close()
	c := &campaign{opts: o, rng: rand.New(rand.NewPCG(o.seed, 0x706f776572637574)), w: w, exe: exe, stderr: stderr, agentLog: agentLog,
		events: map[string]int{}, took: map[string]time.Duration{},
		t: tally{phases: map[string]int{}, tears: map[string]int{}, outcomes: map[string]int{},
			runTime: map[string]time.Duration{}, runCount: map[string]int{}}}
	if err := c.reprovision(ctx); err != nil {
		return err
	}
	for n := 1; c.t.cuts < o.cuts; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.update(ctx, n); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%d cuts, %d bricked, %d resumed, %d rolled back, %d committed\n",
		c.t.cuts, c.t.bricked, c.t.resumed, c.t.rolledBack, c.t.committed)
	c.t.report(stderr, time.Since(start))
	switch {
	case c.t.bricked > 0:
		return fmt.Errorf("%d bricked devices", c.t.bricked)
	case len(c.t.violations) > 0:
		return fmt.Errorf("%d updates ended wrongly (see above)", len(c.t.violations))
	}
	return nil
}

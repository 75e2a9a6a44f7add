package main

import (
	"context"
	"fmt"

	"patchbay.dev/testbench/sim"
)

// live runs the device until ctx ends: the real agent, and whenever it
// exits with status 3 (it asked for a reboot) a power cycle, in which the
// boot loader model picks the slot and the booted image's version shows in
// os-release, and the agent again. It returns nil when ctx ends, or an
// error when the agent failed or the device could not boot.
func (d *abDevice) live(ctx context.Context, s *story) error {
	for boots := 0; ; boots++ {
		agent, err := s.procs.start("patchbay-agent "+d.id, d.log, []string{
			s.bin("patchbay-agent"), "run", "--config", d.config, "--cmdline", d.sim.CmdlinePath()})
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return agent.stop()
		case <-agent.done:
		}
		if ctx.Err() != nil {
			return nil // the agent saw the same end
		}
		if code := agent.exitCode(); code != agentRebootStatus {
			return fmt.Errorf("device %s: the agent (pid %d) exited with status %d (%v); see %s:\n%s",
				d.id, agent.pid(), code, agent.err, d.log, tail(d.log, 2<<10))
		}
		if boots+1 >= maxBoots {
			return fmt.Errorf("device %s: the agent asked for a reboot %d times; see %s", d.id, boots+1, d.log)
		}
		if err := d.powerCycle(ctx, s); err != nil {
			return err
		}
	}
}

// powerCycle boots the device as U-Boot would after a reboot and shows the
// booted version in os-release, as the booted root file system would.
func (d *abDevice) powerCycle(ctx context.Context, s *story) error {
	d.boots.Add(1)
	b, err := d.sim.Boot(ctx)
	if err != nil {
		return fmt.Errorf("device %s: %w", d.id, err)
	}
	if err := d.writeOSRelease(b.Image.Version); err != nil {
		return fmt.Errorf("device %s: %w", d.id, err)
	}
	how := "bootcmd"
	if b.FellBack {
		how = "altbootcmd (boot limit reached)"
	}
	trial := ""
	if env, err := d.sim.Env().Read(ctx); err == nil {
		if ua, _ := env.Get(sim.VarUpgradeAvailable); ua == "1" {
			count, _ := env.Get(sim.VarBootcount)
			limit, _ := env.Get(sim.VarBootlimit)
			trial = fmt.Sprintf(", trial boot %s of %s", count, limit)
		}
	}
	s.say(d.id, "reboot: the agent exited with status 3; U-Boot ran %s and booted slot %s, %s%s", how, b.Slot, b.Image.Version, trial)
	return nil
}

package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"patchbay.dev/agent/install"
	"patchbay.dev/boards"
	"patchbay.dev/firmware/bootenv"
	"patchbay.dev/firmware/slot"
)

// newEngine builds the install engine from the board profile: its U-Boot
// environment, its slots, how it reboots and its health checks.
func (d *Daemon) newEngine(ctx context.Context, cmdline string) (*install.Engine, error) {
	p := d.profile
	opts := install.Options{
		Dir:      filepath.Join(d.cfg.StateDir, "install"),
		Board:    p,
		Fetcher:  d.tuf,
		Lookup:   install.CachedLookup(d.tuf),
		Checks:   install.Checks(p.Health, d.cfg.Health),
		Reporter: engineReporter{d},
		Logger:   d.log,
		Apps:     install.AppOptions{Dir: filepath.Join(d.cfg.StateDir, "apps")},
	}
	if d.rep != nil {
		opts.Roundtrip = d.rep.Roundtrip
	} else {
		opts.Checks = withoutRoundtrip(opts.Checks)
	}
	opts.TrialTimeout = trialTimeout(opts.Checks)
	if p.Reboot.Method == boards.RebootCommand {
		opts.Rebooter = install.CommandRebooter(p.Reboot.Command)
	}
	if p.Boot.Loader == boards.LoaderUBoot && p.Boot.UBootEnv != nil && !singleImageSlots(p) {
		d.log.Warn("firmware updates unsupported: each slot must have one firmware or rootfs device", "board", p.ID)
	}
	if p.Boot.Loader == boards.LoaderUBoot && p.Boot.UBootEnv != nil && singleImageSlots(p) {
		env, err := openEnv(*p.Boot.UBootEnv)
		if err != nil {
			return nil, fmt.Errorf("board %s: boot environment: %w", p.ID, err)
		}
		opts.Env = env
		opts.Slots = map[string]slot.Slot{}
		for _, s := range p.Boot.Slots {
			sl, err := openSlot(ctx, s.Name, slotDevice(s), filepath.Join(d.cfg.StateDir, "install", "slot-"+s.Name+".head"))
			if err != nil {
				return nil, fmt.Errorf("board %s: slot %s: %w", p.ID, s.Name, err)
			}
			opts.Slots[s.Name] = sl
		}
		if cmdline == "" {
			cmdline = "/proc/cmdline"
		}
		opts.Booted = install.CmdlineBooted(cmdline, p.Boot.SlotVariable)
	}
	return install.New(opts)
}

// defaultCheckTimeout is what a check without a timeout gets, as in
// install.
const defaultCheckTimeout = 30 * time.Second

// trialTimeout is how long a trial boot may take to pass its health checks:
// the sum of their timeouts, so every check gets its whole timeout to
// pass, failed rounds repeating until then. The profile's and the
// configuration's timeouts bound the trial; without this, a check that
// fails at once kept the device on the new slot for the engine's default
// of 5 minutes whatever the profile said. 0 (no checks) leaves the
// engine's default.
func trialTimeout(checks []install.Check) time.Duration {
	var total time.Duration
	for _, c := range checks {
		if c.Timeout > 0 {
			total += c.Timeout
		} else {
			total += defaultCheckTimeout
		}
	}
	return total
}

// slotDevice is where a slot's whole image goes: its "firmware" device,
// else its "rootfs" device.
func slotDevice(s boards.Slot) string {
	if dev := s.Devices["firmware"]; dev != "" {
		return dev
	}
	return s.Devices["rootfs"]
}

// singleImageSlots reports whether every slot takes one image on one
// device; slots split over several devices (kernel + rootfs) need an image
// format that carries both, which this agent does not install yet.
func singleImageSlots(p *boards.Profile) bool {
	for _, s := range p.Boot.Slots {
		if slotDevice(s) == "" || len(s.Devices) != 1 {
			return false
		}
	}
	return len(p.Boot.Slots) > 0
}

// withoutRoundtrip drops the gateway round trip when the agent has no
// broker to make it with.
func withoutRoundtrip(checks []install.Check) []install.Check {
	out := checks[:0:0]
	for _, c := range checks {
		if c.Kind != install.CheckRoundtrip {
			out = append(out, c)
		}
	}
	return out
}

func openEnv(u boards.UBootEnv) (*bootenv.Store, error) {
	var cfg bootenv.Config
	for _, c := range u.Copies {
		dev, err := resolveMTD(c.Device)
		if err != nil {
			return nil, err
		}
		cfg.Copies = append(cfg.Copies, bootenv.Location{Device: dev, Offset: int64(c.Offset), Size: int64(u.Size), SectorSize: int64(c.SectorSize)})
	}
	return bootenv.New(cfg)
}

// openSlot opens a slot by its device: "mtd:NAME", a block device, or a
// regular file (whose current size is its capacity).
func openSlot(ctx context.Context, name, device, head string) (slot.Slot, error) {
	if device == "" {
		return nil, errors.New("the profile names no firmware device")
	}
	if strings.HasPrefix(device, "mtd:") {
		dev, err := resolveMTD(device)
		if err != nil {
			return nil, err
		}
		return slot.OpenMTD(ctx, name, dev)
	}
	fi, err := os.Stat(device)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&os.ModeDevice != 0 {
		b, err := slot.OpenBlock(ctx, name, device)
		if err != nil {
			return nil, err
		}
		return install.NewResumable(b, head), nil
	}
	return install.NewResumable(slot.NewFile(name, device, fi.Size()), head), nil
}

// resolveMTD turns "mtd:NAME" into /dev/mtdN by the kernel's partition
// table in /proc/mtd; other devices are returned as they are.
func resolveMTD(device string) (string, error) {
	name, ok := strings.CutPrefix(device, "mtd:")
	if !ok {
		return device, nil
	}
	f, err := os.Open("/proc/mtd")
	if err != nil {
		return "", fmt.Errorf("find MTD partition %q: %w", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// mtd3: 00020000 00010000 "u-boot-env"
		fields := strings.Fields(sc.Text())
		if len(fields) == 4 && strings.Trim(fields[3], `"`) == name {
			return "/dev/" + strings.TrimSuffix(fields[0], ":"), nil
		}
	}
	return "", fmt.Errorf("no MTD partition named %q in /proc/mtd", name)
}

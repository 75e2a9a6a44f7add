package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"patchbay.dev/boards"
	"patchbay.dev/firmware/bootenv"
	"patchbay.dev/firmware/slot"
)

// SlotVariable is the U-Boot variable that selects the slot.
const SlotVariable = "patchbay_slot"

// DefaultBoard is the board profile id of a simulated device.
const DefaultBoard = "testbench-sim-ab"

// The slots: names and the values SlotVariable takes.
var slotNames = [2]string{"A", "B"}

// Files in the device directory.
const (
	configFile  = "sim.json"
	envFile0    = "uboot.env"
	envFile1    = "uboot-redund.env"
	fwEnvConfig = "fw_env.config"
	lockFile    = "fw_printenv.lock"
	cmdlineFile = "cmdline"
	healthFile  = "health"
)

// Config describes a device to create.
type Config struct {
	Dir   string // created if needed; must not hold a device yet
	Board string // DefaultBoard if empty
	// SlotSize is the capacity of each slot in bytes.
	SlotSize int64
	// EnvSize is the size of each environment copy; 0x4000 if 0.
	EnvSize int64
	// BootLimit is U-Boot's bootlimit; 3 if 0.
	BootLimit int
	// HealthURL, if set, becomes an http health check "web-ui" of the
	// board profile (see Device.HealthHandler).
	HealthURL string
}

func (c Config) withDefaults() Config {
	if c.Board == "" {
		c.Board = DefaultBoard
	}
	if c.EnvSize == 0 {
		c.EnvSize = 0x4000
	}
	if c.BootLimit == 0 {
		c.BootLimit = 3
	}
	return c
}

// persisted is sim.json.
type persisted struct {
	Board     string `json:"board"`
	SlotSize  int64  `json:"slot_size"`
	EnvSize   int64  `json:"env_size"`
	HealthURL string `json:"health_url,omitempty"`
}

// Device is a simulated A/B device kept in a directory.
type Device struct {
	dir   string
	cfg   persisted
	env   *bootenv.Store
	slots [2]*slot.File
}

// Create provisions a device: slot A holds image (see Build), slot B is
// empty, the environment selects A with bootlimit and altbootcmd set as
// a board's provisioning sets them, and the device is booted once.
func Create(ctx context.Context, c Config, image []byte) (*Device, error) {
	c = c.withDefaults()
	if c.Dir == "" || c.SlotSize <= 0 {
		return nil, errors.New("sim create: Dir and a positive SlotSize are required")
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("sim create: %w", err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, configFile)); err == nil {
		return nil, fmt.Errorf("sim create: %s already holds a device", c.Dir)
	}
	p := persisted{Board: c.Board, SlotSize: c.SlotSize, EnvSize: c.EnvSize, HealthURL: c.HealthURL}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sim create: %w", err)
	}
	for _, name := range []string{envFile0, envFile1} {
		if err := os.WriteFile(filepath.Join(c.Dir, name), make([]byte, c.EnvSize), 0o644); err != nil {
			return nil, fmt.Errorf("sim create: %w", err)
		}
	}
	fwenv := fmt.Sprintf("# simulated device: redundant U-Boot environment\n%s 0x0 %#x\n%s 0x0 %#x\n",
		filepath.Join(c.Dir, envFile0), c.EnvSize, filepath.Join(c.Dir, envFile1), c.EnvSize)
	if err := os.WriteFile(filepath.Join(c.Dir, fwEnvConfig), []byte(fwenv), 0o644); err != nil {
		return nil, fmt.Errorf("sim create: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, configFile), append(data, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("sim create: %w", err)
	}
	d, err := Open(c.Dir)
	if err != nil {
		return nil, err
	}
	env, err := bootenv.NewEnv(map[string]string{
		VarBootcmd:          "run boot_${" + SlotVariable + "}",
		"boot_A":            "echo booting slot A",
		"boot_B":            "echo booting slot B",
		VarAltbootcmd:       "if test ${" + SlotVariable + "} = A; then setenv " + SlotVariable + " B; else setenv " + SlotVariable + " A; fi; setenv upgrade_available 0; saveenv; run bootcmd",
		VarBootlimit:        strconv.Itoa(c.BootLimit),
		VarBootcount:        "0",
		VarUpgradeAvailable: "0",
		SlotVariable:        slotNames[0],
	})
	if err != nil {
		return nil, fmt.Errorf("sim create: %w", err)
	}
	if err := d.env.Write(ctx, env); err != nil {
		return nil, fmt.Errorf("sim create: %w", err)
	}
	if err := slot.Write(ctx, d.slots[0], bytes.NewReader(image), int64(len(image))); err != nil {
		return nil, fmt.Errorf("sim create: %w", err)
	}
	if _, err := d.Boot(ctx); err != nil {
		return nil, fmt.Errorf("sim create: first boot: %w", err)
	}
	return d, nil
}

// Open opens the device in dir.
func Open(dir string) (*Device, error) {
	data, err := os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		return nil, fmt.Errorf("sim open: %w", err)
	}
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("sim open %s: %w", filepath.Join(dir, configFile), err)
	}
	cfg, err := bootenv.LoadConfig(filepath.Join(dir, fwEnvConfig))
	if err != nil {
		return nil, fmt.Errorf("sim open: %w", err)
	}
	cfg.LockPath = filepath.Join(dir, lockFile)
	store, err := bootenv.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("sim open: %w", err)
	}
	d := &Device{dir: dir, cfg: p, env: store}
	for i, name := range slotNames {
		d.slots[i] = slot.NewFile(name, d.SlotPath(name), p.SlotSize)
	}
	return d, nil
}

// Dir is the device's directory.
func (d *Device) Dir() string { return d.dir }

// Board is the device's board profile id.
func (d *Device) Board() string { return d.cfg.Board }

// Env is the device's U-Boot environment.
func (d *Device) Env() *bootenv.Store { return d.env }

// EnvCopies are the files of the two environment copies.
func (d *Device) EnvCopies() [2]string {
	return [2]string{filepath.Join(d.dir, envFile0), filepath.Join(d.dir, envFile1)}
}

// FWEnvConfig is the fw_env.config for fw_printenv -c and fw_setenv -c.
func (d *Device) FWEnvConfig() string { return filepath.Join(d.dir, fwEnvConfig) }

// SlotPath is the file of slot name ("A" or "B").
func (d *Device) SlotPath(name string) string {
	return filepath.Join(d.dir, "slot-"+strings.ToLower(name)+".img")
}

// Slot returns slot name ("A" or "B"), or nil.
func (d *Device) Slot(name string) *slot.File {
	for i, n := range slotNames {
		if n == name {
			return d.slots[i]
		}
	}
	return nil
}

// CmdlinePath is the simulated /proc/cmdline: the boot loader writes the
// booted slot into it as SlotVariable=VALUE.
func (d *Device) CmdlinePath() string { return filepath.Join(d.dir, cmdlineFile) }

// Profile is the board profile of the device: U-Boot with the redundant
// environment, slots A and B in their files, and the web-ui health check
// if the device was created with a HealthURL.
func (d *Device) Profile() *boards.Profile {
	copies := d.EnvCopies()
	p := &boards.Profile{
		ID:          d.cfg.Board,
		Vendor:      "Patchbay testbench",
		Model:       "simulated A/B device",
		Description: "file-backed slots and U-Boot environment; see testbench/sim",
		Boot: boards.Boot{
			Loader: boards.LoaderUBoot,
			UBootEnv: &boards.UBootEnv{Size: uint64(d.cfg.EnvSize), Copies: []boards.EnvCopy{
				{Device: copies[0]}, {Device: copies[1]},
			}},
			SlotVariable: SlotVariable,
		},
		Reboot: boards.Reboot{Method: boards.RebootNone},
		Source: filepath.Join(d.dir, configFile),
	}
	for _, name := range slotNames {
		p.Boot.Slots = append(p.Boot.Slots, boards.Slot{Name: name, Value: name, Devices: map[string]string{"firmware": d.SlotPath(name)}})
	}
	if d.cfg.HealthURL != "" {
		p.Health = append(p.Health, boards.HealthCheck{Name: "web-ui", Kind: boards.HealthHTTP, URL: d.cfg.HealthURL, ExpectStatus: 200, Timeout: 5 * time.Second})
	}
	return p
}

// Boot is what a boot did.
type Boot struct {
	Slot     string // the slot value booted
	Image    Image
	PowerOns int  // power-ons it took, failed boots included
	FellBack bool // altbootcmd ran
}

// ErrBricked is wrapped when the boot loader can reach no verified image.
var ErrBricked = errors.New("device bricked")

// Boot powers the device on: the boot loader model runs (saving the
// environment as U-Boot would) until a slot boots, and the command line
// file then names that slot. It fails with an error wrapping ErrBricked if
// no verified image can be reached, or wrapping bootenv's errors if no
// environment copy is valid (U-Boot would boot its built-in default
// environment, which this model counts as bricked too).
func (d *Device) Boot(ctx context.Context) (Boot, error) {
	env, err := d.env.Read(ctx)
	if err != nil {
		return Boot{}, fmt.Errorf("sim boot: %w: %w", ErrBricked, err)
	}
	images := d.images(ctx)
	var b Boot
	for range maxResets {
		p := BootOnce(env, SlotVariable, slotNames)
		b.PowerOns++
		b.FellBack = b.FellBack || p.FellBack
		if p.Saved {
			if err := d.env.Write(ctx, p.Env); err != nil {
				return b, fmt.Errorf("sim boot: saveenv: %w", err)
			}
		}
		if im, ok := images[p.Slot]; ok {
			b.Slot, b.Image = p.Slot, im
			if err := d.writeBooted(p.Slot, im); err != nil {
				return b, err
			}
			return b, nil
		}
		if !p.Saved {
			break
		}
		env = p.Env
	}
	return b, fmt.Errorf("sim boot: %d power-ons reached no verified image (%s): %w", b.PowerOns, d.describe(ctx), ErrBricked)
}

// Bricked reports whether the boot loader, starting from the environment
// as it is now, could reach a verified image; if not, why. It changes
// nothing.
func (d *Device) Bricked(ctx context.Context) (bool, string) {
	env, err := d.env.Read(ctx)
	if err != nil {
		return true, "no valid environment copy: " + err.Error()
	}
	images := d.images(ctx)
	steps, ok := Walk(env, SlotVariable, slotNames, func(s string) bool { _, ok := images[s]; return ok })
	if ok {
		return false, ""
	}
	return true, fmt.Sprintf("%d power-ons reach no verified image (%s)", len(steps), d.describe(ctx))
}

// images inspects both slots; the map holds the bootable ones by value.
func (d *Device) images(ctx context.Context) map[string]Image {
	out := map[string]Image{}
	for i, s := range d.slots {
		if im, err := Inspect(ctx, s, d.cfg.Board); err == nil {
			out[slotNames[i]] = im
		}
	}
	return out
}

// describe summarises the environment and slots for messages.
func (d *Device) describe(ctx context.Context) string {
	var parts []string
	if env, err := d.env.Read(ctx); err == nil {
		for _, v := range []string{SlotVariable, VarUpgradeAvailable, VarBootcount, VarBootlimit} {
			val, _ := env.Get(v)
			parts = append(parts, v+"="+val)
		}
	}
	for i, s := range d.slots {
		if im, err := Inspect(ctx, s, d.cfg.Board); err == nil {
			parts = append(parts, "slot "+slotNames[i]+": "+im.Version)
		} else {
			parts = append(parts, "slot "+slotNames[i]+": "+err.Error())
		}
	}
	return strings.Join(parts, ", ")
}

// writeBooted writes what the booted system shows: the command line and
// the health file.
func (d *Device) writeBooted(slotValue string, im Image) error {
	health := "ok\n"
	if im.HealthFails {
		health = "fails\n"
	}
	for path, text := range map[string]string{
		d.CmdlinePath(): fmt.Sprintf("console=ttyS0,115200 rootwait %s=%s patchbay_version=%s\n", SlotVariable, slotValue, im.Version),
		d.HealthFile():  health,
	} {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			return fmt.Errorf("sim boot: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("sim boot: %w", err)
		}
	}
	return nil
}

// HealthFile is where the booted system says whether it is healthy: "ok"
// or "fails", one line, as a service's status file would. A command
// health check can read it (grep -qx ok FILE).
func (d *Device) HealthFile() string { return filepath.Join(d.dir, healthFile) }

// Running returns the slot value the device booted last and its image.
func (d *Device) Running(ctx context.Context) (string, Image, error) {
	data, err := os.ReadFile(d.CmdlinePath())
	if err != nil {
		return "", Image{}, fmt.Errorf("sim running: %w", err)
	}
	var value string
	for f := range strings.FieldsSeq(string(data)) {
		if v, ok := strings.CutPrefix(f, SlotVariable+"="); ok {
			value = v
		}
	}
	s := d.Slot(value)
	if s == nil {
		return "", Image{}, fmt.Errorf("sim running: command line names no slot: %q", data)
	}
	im, err := Inspect(ctx, s, d.cfg.Board)
	if err != nil {
		return value, Image{}, fmt.Errorf("sim running: %w", err)
	}
	return value, im, nil
}

// ErrUnhealthy is wrapped by Health when the running image is marked to
// fail its health checks.
var ErrUnhealthy = errors.New("running image fails its health checks")

// Health says whether the running image is healthy: nil, or an error
// wrapping ErrUnhealthy (or why the running image is unknown).
func (d *Device) Health(ctx context.Context) error {
	value, im, err := d.Running(ctx)
	if err != nil {
		return err
	}
	if im.HealthFails {
		return fmt.Errorf("slot %s, version %s: %w", value, im.Version, ErrUnhealthy)
	}
	return nil
}

// HealthHandler answers 200 while the running image is healthy and 503
// otherwise: the device's web interface as a health probe sees it.
func (d *Device) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.Health(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

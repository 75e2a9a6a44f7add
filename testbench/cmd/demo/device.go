package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"

	"go.yaml.in/yaml/v3"

	"patchbay.dev/agent/config"
	"patchbay.dev/boards"
	"patchbay.dev/testbench/sim"
)

// Exit statuses of patchbay-agent run (agent/cli).
const agentRebootStatus = 3

// maxBoots bounds the reboots one device may ask for: an update takes one
// into the trial and at most one back.
const maxBoots = 4

// abDevice is a simulated A/B device running the real agent.
type abDevice struct {
	id      string
	board   board
	failing bool // its web interface fails on the trial boot
	dir     string
	sim     *sim.Device
	config  string       // the agent's configuration file
	log     string       // the agent's log, appended across boots
	boots   atomic.Int32 // reboots the agent asked for
}

// Files in a device's directory besides the simulator's.
const (
	osReleaseFile = "os-release"
	boardsDir     = "boards"
	configFile    = "agent.yaml"
	agentLog      = "agent.log"
	rootFile      = "root.json"
	stateDir      = "state"
)

// planDevices names the A/B devices: the boards alternate, and the last
// device is the one whose web interface fails on the new version.
func planDevices(dir string, n int) []*abDevice {
	devs := make([]*abDevice, n)
	for i := range n {
		b := boardsOfDemo[i%len(boardsOfDemo)]
		id := fmt.Sprintf("%s-%02d", b.prefix, i+1)
		devs[i] = &abDevice{id: id, board: b, failing: i == n-1, dir: filepath.Join(dir, "devices", id)}
		devs[i].config = filepath.Join(devs[i].dir, configFile)
		devs[i].log = filepath.Join(devs[i].dir, agentLog)
	}
	return devs
}

// provision creates the simulated device with the old version in slot A,
// its os-release, the operator board profile that describes its
// file-backed layout, and the agent's configuration.
func (d *abDevice) provision(ctx context.Context, s *story, r *repo, w *web) error {
	im, err := sim.Build(d.board.id, d.board.from, payload(d.board.id, d.board.from), false)
	if err != nil {
		return err
	}
	if d.sim, err = sim.Create(ctx, sim.Config{Dir: d.dir, Board: d.board.id, SlotSize: slotSize}, im); err != nil {
		return fmt.Errorf("device %s: %w", d.id, err)
	}
	// The agent takes a file-backed slot's size as its capacity, as a
	// partition's: provision both slots at full size.
	for _, name := range []string{"A", "B"} {
		if err := extend(d.sim.SlotPath(name), slotSize); err != nil {
			return fmt.Errorf("device %s: slot %s: %w", d.id, name, err)
		}
	}
	if err := d.writeOSRelease(d.board.from); err != nil {
		return err
	}
	root, err := os.ReadFile(r.root)
	if err != nil {
		return fmt.Errorf("device %s: the repository's root.json: %w", d.id, err)
	}
	if err := os.WriteFile(filepath.Join(d.dir, rootFile), root, 0o644); err != nil {
		return err
	}
	if err := d.writeProfile(s.rebootCommand, w); err != nil {
		return err
	}
	return d.writeConfig(s.gw.mqttURL, w)
}

// extend grows the file at path to size bytes (zeros after the image,
// which the boot loader does not read).
func extend(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() < size {
		err = f.Truncate(size)
	}
	return errors.Join(err, f.Close())
}

// writeOSRelease writes what the running system says about itself.
func (d *abDevice) writeOSRelease(version string) error {
	return writeAtomic(filepath.Join(d.dir, osReleaseFile), []byte(d.board.osRelease(version)))
}

// The board profile schema (boards/doc.go), as much of it as the demo
// writes.
type (
	profileDoc struct {
		ID          string        `yaml:"id"`
		Vendor      string        `yaml:"vendor"`
		Model       string        `yaml:"model"`
		Description string        `yaml:"description"`
		CPE         *cpeDoc       `yaml:"cpe,omitempty"`
		Arch        *archDoc      `yaml:"arch,omitempty"`
		Match       matchDoc      `yaml:"match"`
		Version     versionDoc    `yaml:"version"`
		Boot        bootDoc       `yaml:"boot"`
		Reboot      rebootDoc     `yaml:"reboot"`
		Health      []healthCheck `yaml:"health"`
	}
	cpeDoc  struct{ Part, Vendor, Product string }
	archDoc struct {
		GOARCH  string `yaml:"goarch"`
		Variant string `yaml:"variant,omitempty"`
		Endian  string `yaml:"endian,omitempty"`
	}
	fileRule struct {
		Path  string `yaml:"path"`
		Regex string `yaml:"regex"`
	}
	matchDoc   struct{ Files []fileRule }
	versionDoc struct {
		Scheme  string          `yaml:"scheme"`
		Sources []versionSource `yaml:"sources"`
	}
	versionSource struct {
		Kind  string `yaml:"kind"`
		Path  string `yaml:"path"`
		Regex string `yaml:"regex"`
	}
	bootDoc struct {
		Loader       string    `yaml:"loader"`
		UBootEnv     envDoc    `yaml:"uboot_env"`
		SlotVariable string    `yaml:"slot_variable"`
		Slots        []slotDoc `yaml:"slots"`
	}
	envDoc struct {
		Size      uint64    `yaml:"size"`
		Redundant bool      `yaml:"redundant"`
		Copies    []envCopy `yaml:"copies"`
	}
	envCopy struct {
		Device string `yaml:"device"`
		Offset uint64 `yaml:"offset"`
	}
	slotDoc struct {
		Name    string            `yaml:"name"`
		Value   string            `yaml:"value"`
		Devices map[string]string `yaml:"devices"`
	}
	rebootDoc struct {
		Method  string   `yaml:"method"`
		Command []string `yaml:"command"`
	}
	healthCheck struct {
		Name         string `yaml:"name"`
		Kind         string `yaml:"kind"`
		URL          string `yaml:"url,omitempty"`
		ExpectStatus int    `yaml:"expect_status,omitempty"`
		Timeout      string `yaml:"timeout"`
	}
)

// Health check timeouts. The agent gives a trial boot the sum of its
// checks' timeouts, so these also bound how long the failing device stays
// on the new version.
const (
	roundtripTimeout = "30s"
	webUITimeout     = "3s"
)

// writeProfile writes the operator profile that overrides the shipped
// board (same id) with the simulator's layout: its U-Boot environment
// copies and slot files, the device's own os-release to recognise it and
// read its version, a harmless reboot command (the demo "reboots" the
// device when the agent exits), and the health checks.
func (d *abDevice) writeProfile(reboot []string, w *web) error {
	shipped, err := boards.Embedded()
	if err != nil {
		return err
	}
	base, ok := shipped.Lookup(d.board.id)
	if !ok {
		return fmt.Errorf("board %s is not shipped in boards/profiles", d.board.id)
	}
	layout := d.sim.Profile()
	osRelease := filepath.Join(d.dir, osReleaseFile)
	p := profileDoc{
		ID:          d.board.id,
		Vendor:      base.Vendor,
		Model:       base.Model,
		Description: fmt.Sprintf("%s as simulated by testbench/sim in %s: file-backed slots and U-Boot environment. Overrides the shipped profile (%s).", d.id, d.dir, base.Source),
		Match:       matchDoc{Files: []fileRule{{Path: osRelease, Regex: d.board.matchRegex}}},
		Version:     versionDoc{Scheme: d.board.scheme, Sources: []versionSource{{Kind: "file", Path: osRelease, Regex: d.board.versionRegex}}},
		Boot: bootDoc{
			Loader:       string(boards.LoaderUBoot),
			UBootEnv:     envDoc{Size: layout.Boot.UBootEnv.Size, Redundant: layout.Boot.UBootEnv.Redundant()},
			SlotVariable: layout.Boot.SlotVariable,
		},
		Reboot: rebootDoc{Method: string(boards.RebootCommand), Command: reboot},
		Health: []healthCheck{{Name: "gateway-roundtrip", Kind: string(boards.HealthMQTTRoundtrip), Timeout: roundtripTimeout}},
	}
	if base.CPE != nil {
		p.CPE = &cpeDoc{Part: base.CPE.Part, Vendor: base.CPE.Vendor, Product: base.CPE.Product}
	}
	if base.Arch != nil {
		p.Arch = &archDoc{GOARCH: base.Arch.GOARCH, Variant: base.Arch.Variant, Endian: base.Arch.Endian}
	}
	for _, c := range layout.Boot.UBootEnv.Copies {
		p.Boot.UBootEnv.Copies = append(p.Boot.UBootEnv.Copies, envCopy{Device: c.Device, Offset: c.Offset})
	}
	for _, sl := range layout.Boot.Slots {
		p.Boot.Slots = append(p.Boot.Slots, slotDoc{Name: sl.Name, Value: sl.Value, Devices: sl.Devices})
	}
	if d.failing {
		p.Health = append(p.Health, healthCheck{Name: "web-ui", Kind: string(boards.HealthHTTP), URL: w.webUI(d.id), ExpectStatus: 200, Timeout: webUITimeout})
	}
	data, err := marshalYAML(p)
	if err != nil {
		return err
	}
	header := fmt.Sprintf("# Operator board profile of the simulated device %s, written by the demo.\n", d.id)
	dir := filepath.Join(d.dir, boardsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, d.board.id+".yaml"), append([]byte(header), data...), 0o644); err != nil {
		return err
	}
	// Fail here, naming the file, rather than in the agent's log.
	if _, err := boards.Load(dir); err != nil {
		return fmt.Errorf("device %s: %w", d.id, err)
	}
	return nil
}

// The agent's configuration (agent/config), as much of it as the demo
// writes.
type (
	agentConfig struct {
		DeviceID  string       `yaml:"device_id"`
		Tenant    string       `yaml:"tenant"`
		Site      string       `yaml:"site"`
		Tags      []string     `yaml:"tags"`
		BoardsDir string       `yaml:"boards_dir"`
		StateDir  string       `yaml:"state_dir"`
		Log       logDoc       `yaml:"log"`
		Broker    brokerDoc    `yaml:"broker"`
		TUF       tufDoc       `yaml:"tuf"`
		Policy    policyDoc    `yaml:"policy"`
		Discovery discoveryDoc `yaml:"discovery"`
	}
	logDoc    struct{ Format, Level string }
	brokerDoc struct {
		URL       string `yaml:"url"`
		KeepAlive string `yaml:"keepalive"`
	}
	tufDoc struct {
		MetadataURL     string `yaml:"metadata_url"`
		TargetsURL      string `yaml:"targets_url"`
		RootFile        string `yaml:"root_file"`
		RefreshInterval string `yaml:"refresh_interval"`
	}
	policyDoc struct {
		AutoApprove string `yaml:"auto_approve"`
		Reboot      string `yaml:"reboot"`
	}
	discoveryDoc struct{ Interval string }
)

// writeConfig writes the agent's configuration: identity, state, the
// gateway's broker, the demo's repository and a policy that installs high
// and critical updates at once.
func (d *abDevice) writeConfig(brokerURL string, w *web) error {
	c := agentConfig{
		DeviceID:  d.id,
		Tenant:    tenant,
		Site:      "demo-lab",
		Tags:      []string{"demo", "ab"},
		BoardsDir: filepath.Join(d.dir, boardsDir),
		StateDir:  filepath.Join(d.dir, stateDir),
		Log:       logDoc{Format: "text", Level: "info"},
		Broker:    brokerDoc{URL: brokerURL, KeepAlive: "30s"},
		TUF: tufDoc{MetadataURL: w.metadataURL(), TargetsURL: w.targetsURL(),
			RootFile: filepath.Join(d.dir, rootFile), RefreshInterval: "1m"},
		Policy:    policyDoc{AutoApprove: "high", Reboot: "immediate"},
		Discovery: discoveryDoc{Interval: "6h"},
	}
	data, err := marshalYAML(c)
	if err != nil {
		return err
	}
	header := fmt.Sprintf("# patchbay-agent configuration of the simulated device %s, written by the demo.\n", d.id)
	if err := os.WriteFile(d.config, append([]byte(header), data...), 0o644); err != nil {
		return err
	}
	// Fail here, naming the field, rather than in the agent's log.
	if _, err := config.Load(d.config); err != nil {
		return fmt.Errorf("device %s: %w", d.id, err)
	}
	return nil
}

// marshalYAML renders v as YAML indented as the shipped profiles are.
func marshalYAML(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// rebootCommand is the profile's reboot command: one that does nothing.
// The agent exits with status 3 after it ran it, and the demo then boots
// the device.
func rebootCommand() []string {
	if p, err := exec.LookPath("true"); err == nil {
		return []string{p}
	}
	return []string{"/bin/true"}
}

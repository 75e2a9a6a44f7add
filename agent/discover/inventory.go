package discover

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"patchbay.dev/agent/config"
	"patchbay.dev/boards"
	"patchbay.dev/firmware/telemetry"
)

// Component kinds this package reports.
const (
	KindFirmware = "firmware" // the device the agent runs on ("self")
	KindSNMP     = "snmp"     // an SNMP neighbour
)

// SelfID is the inventory id of the device the agent runs on.
const SelfID = "self"

// Inventory identifies the device the agent runs on (from the files under
// root: device tree, os-release, openwrt_release) and every SNMP neighbour
// of cfg, and returns one component each. A neighbour that cannot be read
// or that no profile fits is still listed, marked Unknown with what it said
// about itself or why it could not be read: an inventory is never silently
// short. The error is only for the local device's files being unreadable.
func Inventory(ctx context.Context, cfg config.Config, set *boards.Set, root fs.FS, log *slog.Logger) ([]telemetry.Component, error) {
	self, err := Self(ctx, cfg, set, root)
	if err != nil {
		return nil, err
	}
	comps := []telemetry.Component{self}
	for _, t := range cfg.Discovery.SNMP {
		comps = append(comps, Neighbour(ctx, t, set, log))
	}
	return comps, nil
}

// Self identifies the device the agent runs on. A configured board pins the
// profile; the version is still read by the profile's sources.
func Self(ctx context.Context, cfg config.Config, set *boards.Set, root fs.FS) (telemetry.Component, error) {
	id, err := boards.IdentifyLocal(ctx, root, set)
	if err != nil {
		return telemetry.Component{}, err
	}
	c := telemetry.Component{ID: SelfID, Kind: KindFirmware, Board: cfg.Board}
	if id.Profile != nil && (cfg.Board == "" || cfg.Board == id.Profile.ID) {
		c.Board, c.Vendor, c.Model, c.Version = id.Profile.ID, id.Profile.Vendor, id.Profile.Model, id.Version
		if id.Version == "" && id.VersionErr != nil {
			c.Detail = id.VersionErr.Error()
		}
		return c, nil
	}
	if cfg.Board != "" {
		p, ok := set.Lookup(cfg.Board)
		if !ok {
			return telemetry.Component{}, fmt.Errorf("board %q is configured but no profile has that id", cfg.Board)
		}
		c.Vendor, c.Model = p.Vendor, p.Model
		c.Detail = "board pinned by configuration; local identification found " + id.String()
		return c, nil
	}
	c.Unknown, c.Detail = true, id.String()
	return c, nil
}

// Neighbour reads and identifies one SNMP neighbour within its timeout.
func Neighbour(ctx context.Context, t config.SNMPTarget, set *boards.Set, log *slog.Logger) telemetry.Component {
	c := telemetry.Component{ID: t.Name, Kind: KindSNMP, Address: t.Address}
	target := SNMPTarget{Address: t.Address, Community: Community(t.Community.Reveal()), Retries: t.Retries}
	if t.V3 != nil {
		target.V3 = &SNMPv3{
			User:           t.V3.User,
			AuthProtocol:   AuthProtocol(t.V3.AuthProtocol),
			AuthPassphrase: Passphrase(t.V3.AuthPassphrase.Reveal()),
			PrivProtocol:   PrivProtocol(t.V3.PrivProtocol),
			PrivPassphrase: Passphrase(t.V3.PrivPassphrase.Reveal()),
		}
	}
	client, err := NewSNMPClient(target, log)
	if err != nil {
		c.Unknown, c.Detail = true, err.Error()
		return c
	}
	timeout := t.Timeout.Std()
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	// The whole identification (several requests) gets a few timeouts' worth.
	ctx, cancel := context.WithTimeout(ctx, timeout*time.Duration(3*(t.Retries+1)))
	defer cancel()
	id, err := boards.Identify(ctx, client, set)
	switch {
	case err != nil:
		// The component carries the reason to the gateway; the log is for
		// whoever debugs discovery on the device.
		c.Unknown, c.Detail = true, err.Error()
		log.Debug("snmp neighbour not identified", "device_id", t.Name, "address", t.Address, "err", err)
	case id.Profile == nil:
		c.Unknown, c.Detail = true, id.String()
	default:
		c.Board, c.Vendor, c.Model, c.Version = id.Profile.ID, id.Profile.Vendor, id.Profile.Model, id.Version
		if id.Version == "" && id.VersionErr != nil {
			c.Detail = id.VersionErr.Error()
		}
	}
	return c
}

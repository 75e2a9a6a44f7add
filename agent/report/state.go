package report

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/outbox"
	"patchbay.dev/firmware/buildinfo"
	"patchbay.dev/firmware/telemetry"
)

// PhaseIdle is the update phase of a device with no update under way.
const PhaseIdle = "idle"

// OutboxDir is where the agent keeps its outbox inside its state
// directory.
func OutboxDir(stateDir string) string { return filepath.Join(stateDir, "outbox") }

// BuildState assembles the state document from the agent's identity, what
// it found on the device, where its update stands and its outbox counters.
// The board is the configured one or else that of the "self" component; a
// component for the agent itself is added unless inventory has one; an
// empty update phase is PhaseIdle.
func BuildState(cfg config.Config, inventory []telemetry.Component, update telemetry.Update, ob outbox.Stats, now time.Time) telemetry.State {
	board := cfg.Board
	if i := slices.IndexFunc(inventory, func(c telemetry.Component) bool { return c.ID == "self" }); board == "" && i >= 0 {
		board = inventory[i].Board
	}
	inv := slices.Clone(inventory)
	if !slices.ContainsFunc(inv, func(c telemetry.Component) bool { return c.Kind == "agent" }) {
		inv = append(inv, telemetry.Component{ID: "patchbay-agent", Kind: "agent", Version: buildinfo.Version})
	}
	if update.Phase == "" {
		update.Phase = PhaseIdle
	}
	return telemetry.State{
		Schema:        telemetry.SchemaVersion,
		DeviceID:      cfg.DeviceID,
		Tenant:        cfg.Tenant,
		Site:          cfg.Site,
		Tags:          slices.Clone(cfg.Tags),
		Board:         board,
		AgentVersion:  buildinfo.Version,
		Time:          now.UTC(),
		Seq:           ob.LastSeq,
		Inventory:     inv,
		Update:        update,
		DroppedEvents: ob.Dropped,
	}
}

// StateSources supply the parts of the state document that other packages
// keep in the state directory. A nil function leaves its part empty.
type StateSources struct {
	Inventory func(ctx context.Context, cfg config.Config) ([]telemetry.Component, error)
	Update    func(ctx context.Context, cfg config.Config) (telemetry.Update, error)
}

// LoadState builds the state document of the device cfg describes from
// what its state directory holds, without opening anything for writing: it
// may run while the agent does.
func LoadState(ctx context.Context, cfg config.Config, src StateSources, now time.Time) (telemetry.State, outbox.Stats, error) {
	var (
		inv []telemetry.Component
		upd telemetry.Update
		err error
	)
	if src.Inventory != nil {
		if inv, err = src.Inventory(ctx, cfg); err != nil {
			return telemetry.State{}, outbox.Stats{}, fmt.Errorf("read inventory: %w", err)
		}
	}
	if src.Update != nil {
		if upd, err = src.Update(ctx, cfg); err != nil {
			return telemetry.State{}, outbox.Stats{}, fmt.Errorf("read update state: %w", err)
		}
	}
	ob, err := outbox.ReadStats(OutboxDir(cfg.StateDir))
	if err != nil {
		return telemetry.State{}, outbox.Stats{}, fmt.Errorf("read outbox: %w", err)
	}
	return BuildState(cfg, inv, upd, ob, now), ob, nil
}

package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/discover"
	"patchbay.dev/agent/install"
	"patchbay.dev/agent/outbox"
	"patchbay.dev/agent/report"
	"patchbay.dev/boards"
	"patchbay.dev/firmware/buildinfo"
	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/firmware/trust"
)

// ErrRebootRequested is returned by Run when the agent asked the device to
// reboot (into a new slot, or back to the old one) and the reboot has not
// stopped it yet. The next start resumes from the journal.
var ErrRebootRequested = errors.New("reboot requested")

// Options configure Run.
type Options struct {
	Config config.Config
	// Root is the device's file system ("/"), read to identify it.
	Root fs.FS
	// Cmdline is the kernel command line file that names the booted slot
	// (/proc/cmdline on a device).
	Cmdline string
	Logger  *slog.Logger
}

// Daemon is one run of the agent.
type Daemon struct {
	cfg     config.Config
	root    fs.FS
	log     *slog.Logger
	set     *boards.Set
	profile *boards.Profile // nil: the device itself is not identified
	ob      *outbox.Outbox
	rep     *report.Reporter // nil without a broker
	tuf     *trust.Client    // nil without a repository
	engine  *install.Engine  // nil when the device cannot be updated

	wake      chan struct{} // check for updates now
	inventory chan struct{} // inventory now

	mu      sync.Mutex
	comps   []telemetry.Component
	update  telemetry.Update
	desired *telemetry.Desired
}

// Run runs the agent until ctx ends, or returns ErrRebootRequested when it
// asked for a reboot.
func Run(ctx context.Context, o Options) error {
	d, err := open(ctx, o)
	if err != nil {
		return err
	}
	defer d.ob.Close()
	return d.run(ctx)
}

func open(ctx context.Context, o Options) (*Daemon, error) {
	cfg := o.Config
	d := &Daemon{cfg: cfg, root: o.Root, log: o.Logger, wake: make(chan struct{}, 1), inventory: make(chan struct{}, 1)}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	var err error
	if cfg.BoardsDir != "" {
		d.set, err = boards.Load(cfg.BoardsDir)
	} else {
		d.set, err = boards.Load()
	}
	if err != nil {
		return nil, err
	}
	self, err := discover.Self(ctx, cfg, d.set, d.root)
	if err != nil {
		return nil, err
	}
	d.comps = []telemetry.Component{self}
	if p, ok := d.set.Lookup(self.Board); ok && !self.Unknown {
		d.profile = p
	}
	if d.ob, err = outbox.Open(report.OutboxDir(cfg.StateDir), cfg.Broker.OutboxBytes, d.log); err != nil {
		return nil, err
	}
	if cfg.Broker.URL != "" {
		d.rep, err = report.New(report.Options{Tenant: cfg.Tenant, DeviceID: cfg.DeviceID, Broker: cfg.Broker, Outbox: d.ob, Handler: d, Logger: d.log})
		if err != nil {
			d.ob.Close()
			return nil, err
		}
	}
	if cfg.TUF.MetadataURL != "" {
		if d.tuf, err = openTUF(cfg, d.log); err != nil {
			d.ob.Close()
			return nil, err
		}
	}
	if d.profile != nil && d.tuf != nil {
		d.engine, err = d.newEngine(ctx, o.Cmdline)
		if err != nil {
			d.ob.Close()
			return nil, err
		}
	}
	d.update = telemetry.Update{Phase: string(install.StateIdle)}
	return d, nil
}

// openTUF starts the chain of trust from the shipped root on first use.
func openTUF(cfg config.Config, log *slog.Logger) (*trust.Client, error) {
	dir := filepath.Join(cfg.StateDir, "tuf")
	if _, err := os.Stat(filepath.Join(dir, "root.json")); errors.Is(err, fs.ErrNotExist) {
		root, err := os.ReadFile(cfg.TUF.RootFile)
		if err != nil {
			return nil, fmt.Errorf("tuf.root_file: %w", err)
		}
		if err := trust.Init(dir, root); err != nil {
			return nil, err
		}
	}
	return trust.New(trust.Options{
		MetadataDir: dir,
		Remote:      &trust.HTTPRemote{Client: trust.NewHTTPClient(), MetadataURL: cfg.TUF.MetadataURL, TargetsURL: cfg.TUF.TargetsURL, UserAgent: "patchbay-agent/" + buildinfo.Version},
		Logger:      log,
	})
}

func (d *Daemon) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if d.rep != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.rep.Run(ctx); err != nil {
				d.log.Error("reporter stopped", "err", err)
			}
		}()
	}
	defer wg.Wait()
	defer cancel() // runs before Wait: the reporter says "offline" and stops

	d.log.Info("agent started", "device_id", d.cfg.DeviceID, "board", d.boardID(), "version", buildinfo.Version)
	if d.engine != nil {
		out, err := d.engine.Resume(ctx)
		d.noteOutcome(out)
		if rebooting(out) {
			return ErrRebootRequested
		}
		if err != nil && !isUpdateError(err) {
			d.log.Warn("resuming the update failed", "err", err)
		}
	}
	d.refreshInventory(ctx)
	d.publishState(ctx)
	if len(d.cfg.Policy.Windows) > 0 {
		d.log.Warn("maintenance windows are configured: updates install only when the gateway assigns them")
	}

	check := time.NewTicker(d.cfg.TUF.RefreshInterval.Std())
	defer check.Stop()
	inv := time.NewTicker(d.cfg.Discovery.Interval.Std())
	defer inv.Stop()
	d.poke(d.wake) // look once at start
	for {
		select {
		case <-ctx.Done():
			d.log.Info("agent stopping")
			return nil
		case <-check.C:
			d.poke(d.wake)
		case <-inv.C:
			d.poke(d.inventory)
		case <-d.inventory:
			d.refreshInventory(ctx)
			d.publishState(ctx)
		case <-d.wake:
			if err := d.checkAndInstall(ctx); errors.Is(err, ErrRebootRequested) {
				return err
			} else if err != nil && ctx.Err() == nil {
				d.log.Warn("update check failed", "err", err)
			}
		}
	}
}

func (d *Daemon) poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (d *Daemon) boardID() string {
	if d.profile == nil {
		return ""
	}
	return d.profile.ID
}

func rebooting(o install.Outcome) bool {
	return o.State == install.StateRebooting || o.State == install.StateRollingBack
}

func isUpdateError(err error) bool {
	var ue *install.Error
	return errors.As(err, &ue)
}

func (d *Daemon) refreshInventory(ctx context.Context) {
	comps, err := discover.Inventory(ctx, d.cfg, d.set, d.root, d.log)
	if err != nil {
		d.log.Warn("inventory failed", "err", err)
		return
	}
	d.mu.Lock()
	d.comps = comps
	d.mu.Unlock()
}

func (d *Daemon) selfVersion() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.comps {
		if c.ID == discover.SelfID {
			return c.Version
		}
	}
	return ""
}

// State is the device's state document as the daemon knows it now.
func (d *Daemon) State() telemetry.State {
	d.mu.Lock()
	comps := append([]telemetry.Component(nil), d.comps...)
	upd := d.update
	d.mu.Unlock()
	st := report.BuildState(d.cfg, comps, upd, d.ob.Stats(), time.Now().UTC())
	st.Board = d.boardID()
	return st
}

func (d *Daemon) publishState(ctx context.Context) {
	if d.rep == nil {
		return
	}
	if err := d.rep.PublishState(ctx, d.State()); err != nil && ctx.Err() == nil {
		d.log.Warn("state not published", "err", err)
	}
}

// noteOutcome records an update outcome in the state document.
func (d *Daemon) noteOutcome(o install.Outcome) {
	if o.State == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.update.Phase = string(o.State)
	d.update.Target, d.update.FromVersion, d.update.ToVersion = o.Target, o.FromVersion, o.Version
	d.update.Since = time.Now().UTC()
	if o.State.Final() {
		d.update.LastOutcome = &telemetry.Outcome{Result: string(o.State), Reason: string(o.Reason), Detail: o.Detail,
			Target: o.Target, FromVersion: o.FromVersion, ToVersion: o.Version, At: d.update.Since}
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/testbench/fleet"
)

// tenant is the customer every device of the demo belongs to.
const tenant = "acme"

// marker marks a directory the demo made, which it may wipe.
const marker = ".patchbay-demo"

// pollInterval is how often the gateway's API is read for progress.
const pollInterval = 500 * time.Millisecond

// holdBack is how long progress lines wait to be printed in the order
// things happened (see timeline).
const holdBack = 2 * time.Second

// options are the demo's flags.
type options struct {
	bin         string        // where patchbay-agent, -gateway and -release are
	dir         string        // work directory, wiped at the start
	devices     int           // simulated A/B devices running the real agent
	fleet       int           // lightweight simulated devices (testbench/fleet)
	fleetEvents int           // events each of them sends
	timeout     time.Duration // for the whole story
	keep        bool          // keep everything running after the table until Ctrl-C
}

// story is one run of the demo.
type story struct {
	o             options
	start         time.Time
	procs         procs
	rebootCommand []string
	gw            *gateway
	tl            *timeline
}

// result is how the story ended, for the test.
type result struct {
	api     string
	devices map[string]deviceResult
	fleet   fleet.Stats
	pids    []int // every process the demo started
}

// deviceResult is an A/B device at the end, as the gateway saw it.
type deviceResult struct {
	board, version, phase string
	outcome               *telemetry.Outcome
	boots                 int
}

// tell runs the whole demo and stops everything it started before it
// returns, also when ctx ends (Ctrl-C) or the story fails.
func tell(ctx context.Context, o options, out io.Writer) (res result, err error) {
	start := time.Now()
	s := &story{o: o, start: start, tl: &timeline{out: out, start: start}, rebootCommand: rebootCommand()}
	res.devices = map[string]deviceResult{}
	defer func() { res.pids = s.procs.PIDs() }()
	defer s.tl.drain()
	defer httpClient.CloseIdleConnections()
	if s.o.dir, err = filepath.Abs(o.dir); err != nil {
		return res, err
	}
	if err := s.checkBinaries(); err != nil {
		return res, err
	}
	if err := wipe(s.o.dir); err != nil {
		return res, err
	}
	s.say("demo", "%d A/B devices running the real agent, %d simulated devices, tenant %s; files in %s", o.devices, o.fleet, tenant, s.rel(s.o.dir))

	r, err := s.makeRepo(ctx)
	if err != nil {
		return res, err
	}
	devs := planDevices(s.o.dir, o.devices)
	failing := devs[len(devs)-1].id
	w, err := s.serve(r, failing)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, w.close(context.WithoutCancel(ctx))) }()
	s.say("repo", "published; serving %s on %s (metadata/, targets/)", s.rel(r.public), w.url)

	if s.gw, err = s.startGateway(ctx); err != nil {
		return res, err
	}
	defer func() {
		if stopErr := s.gw.proc.stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop the gateway: %w", stopErr))
		}
	}()
	res.api = s.gw.api
	s.say("gateway", "healthy (pid %d): API %s, MQTT %s, SQLite %s", s.gw.proc.pid(), s.gw.api, s.gw.mqttURL, s.rel(filepath.Join(s.o.dir, "gateway", "patchbay.db")))

	for _, d := range devs {
		if err := d.provision(ctx, s, r, w); err != nil {
			return res, err
		}
		checks := "gateway round trip"
		if d.failing {
			checks += " and web-ui, an http check that will fail on " + d.board.to
		}
		s.say(d.id, "provisioned: %s %s in slot A, slot B empty; health checks: %s", d.board.id, d.board.from, checks)
	}

	// From here on the devices and the fleet run; they stop, agents by
	// SIGINT, when tell returns. What went wrong meanwhile and was not
	// reported yet (an agent that had to be killed) is reported then.
	runCtx, stopRun := context.WithCancel(ctx)
	var wg sync.WaitGroup
	failed := make(chan error, len(devs))
	defer func() {
		stopRun()
		wg.Wait()
		close(failed)
		for e := range failed {
			err = errors.Join(err, e)
		}
	}()
	for _, d := range devs {
		wg.Go(func() {
			if err := d.live(runCtx, s); err != nil {
				failed <- err
			}
		})
	}
	s.say("agents", "started %d agents: patchbay-agent run --config DEVDIR/agent.yaml --cmdline DEVDIR/cmdline (logs in DEVDIR/agent.log)", len(devs))
	fleetDone := make(chan fleetOutcome, 1)
	wg.Go(func() { fleetDone <- s.runFleet(runCtx) })

	ws, err := s.follow(ctx, devs, failed, fleetDone, &res)
	for _, w := range ws {
		res.devices[w.dev.id] = w.result()
	}
	if err != nil {
		return res, err
	}
	if err := s.table(ctx, ws); err != nil {
		return res, err
	}
	if o.keep {
		s.say("demo", "--keep: everything keeps running; Ctrl-C stops it")
		select {
		case <-ctx.Done():
		case err := <-failed:
			return res, err
		}
		return res, nil
	}
	return res, nil
}

// checkBinaries makes sure the binaries are built.
func (s *story) checkBinaries() error {
	var missing []string
	for _, b := range []string{"patchbay-agent", "patchbay-gateway", "patchbay-release"} {
		if _, err := os.Stat(s.bin(b)); err != nil {
			missing = append(missing, s.bin(b))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not built: %s; run make build (or give --bin)", strings.Join(missing, ", "))
	}
	return nil
}

// bin is the path of a binary.
func (s *story) bin(name string) string {
	p, err := filepath.Abs(filepath.Join(s.o.bin, name))
	if err != nil {
		return filepath.Join(s.o.bin, name)
	}
	return p
}

// wipe empties dir for a new demo: only a directory that is empty or that
// an earlier demo made.
func wipe(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
			return fmt.Errorf("refusing to wipe %s: it is not empty and no demo made it (no %s); remove it or give another --dir", dir, marker)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("wipe %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, marker), []byte("made by testbench/cmd/demo; wiped by the next demo\n"), 0o644)
}

// say prints one line of progress: the time since the start, who, what.
func (s *story) say(who, format string, args ...any) {
	s.sayAt(time.Now(), who, format, args...)
}

// sayAt is say for something that happened at a given time.
func (s *story) sayAt(at time.Time, who, format string, args ...any) {
	s.tl.add(at, who, fmt.Sprintf(format, args...))
}

// rel is path relative to the working directory when it is below it.
func (s *story) rel(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// The simulated fleet: boards and versions are given round robin, in
// pairs (the lists have the same length).
var (
	fleetBoards   = []string{"openwrt-ath79-generic", "openwrt-ath79-generic", "openwrt-ath79-generic", "rpi-arm64-gateway", "rpi-arm64-gateway", "mikrotik-routeros", "cisco-iosxe", "teltonika-rut9"}
	fleetVersions = []string{"23.05.2", "22.03.5", "23.05.3", "1.4.0", "1.3.2", "7.14.2", "17.9.4", "7.06.10"}
	fleetSites    = []string{"berlin", "hamburg", "munich", "vienna", "zurich"}
)

// fleetOutcome is what fleet.Run returned.
type fleetOutcome struct {
	stats fleet.Stats
	err   error
}

// runFleet runs the lightweight simulated devices until every one's
// events are acknowledged.
func (s *story) runFleet(ctx context.Context) fleetOutcome {
	if s.o.fleet == 0 {
		return fleetOutcome{}
	}
	logPath := filepath.Join(s.o.dir, "fleet.log")
	f, err := os.Create(logPath)
	if err != nil {
		return fleetOutcome{err: err}
	}
	defer f.Close()
	cfg := fleet.Config{
		BrokerURL: s.gw.mqttURL,
		Tenant:    tenant,
		Devices:   s.o.fleet,
		Prefix:    "sim-",
		Sites:     fleetSites,
		Boards:    fleetBoards,
		Versions:  fleetVersions,
		Events:    s.o.fleetEvents,
		Username:  func(tenant, device string) string { return tenant + "/" + device },
		Connect:   time.Duration(s.o.fleet) * 10 * time.Millisecond,
	}
	s.say("fleet", "%d simulated devices connecting (testbench/fleet, %d events each)", cfg.Devices, cfg.Events)
	st, err := fleet.Run(ctx, cfg, nil, slog.New(slog.NewTextHandler(f, nil)))
	return fleetOutcome{stats: st, err: err}
}

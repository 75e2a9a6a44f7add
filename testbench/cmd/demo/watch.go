package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

// The update phases (agent/install's states, as the agent reports them).
const (
	phaseCommitted  = "committed"
	phaseRolledBack = "rolled-back"
	phaseFailed     = "failed"
)

// watch is what the demo has seen of one A/B device through the
// gateway's API.
type watch struct {
	dev     *abDevice
	seen    bool   // the gateway knows the device
	lastSeq uint64 // of the last event shown
	phase   string // last phase shown
	last    store.Device
	done    bool // the device's story ended as it should
	// finalShown is set once the result event of the update has been
	// shown: the state document can reach the gateway before it.
	finalShown bool
}

// want is the outcome the device's story must end with.
func (w *watch) want() (result, version string) {
	if w.dev.failing {
		return phaseRolledBack, w.dev.board.from
	}
	return phaseCommitted, w.dev.board.to
}

// result is the device at the end.
func (w *watch) result() deviceResult {
	r := deviceResult{board: w.last.Board, version: w.last.Version, phase: w.last.Phase, boots: int(w.dev.boots.Load())}
	if w.last.State != nil {
		r.outcome = w.last.State.Update.LastOutcome
	}
	return r
}

// devicePage is GET /api/v1/devices/{tenant}/{id}.
type devicePage struct {
	Device store.Device        `json:"device"`
	Events []store.StoredEvent `json:"events"`
}

// follow reads the gateway's API every pollInterval and prints every
// state change of the A/B devices, until each device's update ended as the
// story says and the fleet is in. It fails when a device's update ends
// otherwise, an agent fails, the fleet fails, or the time is up.
func (s *story) follow(ctx context.Context, devs []*abDevice, failed <-chan error, fleetDone <-chan fleetOutcome, res *result) ([]*watch, error) {
	ws := make([]*watch, len(devs))
	for i, d := range devs {
		ws[i] = &watch{dev: d}
	}
	deadline := time.NewTimer(time.Until(s.start.Add(s.o.timeout)))
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	fleetIn := s.o.fleet == 0
	s.tl.order(holdBack)
	defer s.tl.drain()
	for {
		select {
		case <-ctx.Done():
			return ws, fmt.Errorf("interrupted: %w", ctx.Err())
		case err := <-failed:
			return ws, err
		case f := <-fleetDone:
			if f.err != nil {
				return ws, fmt.Errorf("the simulated fleet: %w (log %s)", f.err, s.rel(s.o.dir+"/fleet.log"))
			}
			res.fleet = f.stats
			s.say("fleet", "all %d simulated devices are in: %d events stored and acknowledged by the gateway (%d sent again)",
				f.stats.Devices, f.stats.Acked, f.stats.Resent)
			fleetIn = true
		case <-deadline.C:
			return ws, s.late(ws, fleetIn)
		case <-tick.C:
		}
		now := time.Now()
		all := fleetIn
		for _, w := range ws {
			if err := s.poll(ctx, w); err != nil {
				if ctx.Err() != nil {
					return ws, fmt.Errorf("interrupted: %w", ctx.Err())
				}
				return ws, err
			}
			all = all && w.done
		}
		s.tl.tick(now)
		if all {
			s.say("demo", "the story is complete in %.1fs", time.Since(s.start).Seconds())
			return ws, nil
		}
	}
}

// poll reads one device's page and prints what changed since.
func (s *story) poll(ctx context.Context, w *watch) error {
	var page devicePage
	err := getJSON(ctx, fmt.Sprintf("%s/api/v1/devices/%s/%s?events=200", s.gw.api, url.PathEscape(tenant), url.PathEscape(w.dev.id)), &page)
	if errors.Is(err, errNotFound) {
		return nil // not connected yet
	}
	if err != nil {
		return fmt.Errorf("read %s from the gateway: %w", w.dev.id, err)
	}
	w.last = page.Device
	w.seen = true
	for _, e := range page.Events {
		if e.Event.Seq <= w.lastSeq {
			continue
		}
		w.lastSeq = e.Event.Seq
		s.show(w, e.Event)
	}
	return w.check()
}

// show prints an event that changes the device's update phase.
func (s *story) show(w *watch, e telemetry.Event) {
	final := e.Phase == phaseCommitted || e.Phase == phaseRolledBack || e.Phase == phaseFailed
	switch {
	case e.Phase == "" || e.Phase == w.phase:
		return
	case e.Type == telemetry.EventProgress && !final:
	case (e.Type == telemetry.EventResult || e.Type == telemetry.EventError) && final:
	default:
		return // the progress event of a final state: its result says more
	}
	w.phase = e.Phase
	w.finalShown = w.finalShown || final
	s.sayAt(e.Time, w.dev.id, "%s", describe(e))
}

// describe says what an update event means.
func describe(e telemetry.Event) string {
	to := e.Data["version"]
	switch e.Phase {
	case "downloading":
		return fmt.Sprintf("downloading %s (%s, %d KiB) into the inactive slot", e.Target, to, e.Total>>10)
	case "staged":
		return "staged: written, read back and SHA-256 verified"
	case "switching":
		return "switching: one write of the U-Boot environment selects the new slot, upgrade_available=1"
	case "rebooting":
		return "rebooting into the trial of " + to
	case "trial":
		return "trial boot of " + to + ": running the health checks"
	case "committing":
		return "health checks passed: committing"
	case "rolling-back":
		return "rolling back: the old slot boots again"
	case phaseCommitted:
		return fmt.Sprintf("committed: %s → %s installed", e.Data["from_version"], e.Data["to_version"])
	case phaseRolledBack:
		return fmt.Sprintf("rolled back to %s, reason %s", e.Data["from_version"], e.Reason)
	case phaseFailed:
		return fmt.Sprintf("failed, reason %s: %s", e.Reason, e.Message)
	}
	return e.Phase
}

// check marks the device done once its update ended as the story says,
// and fails if it ended otherwise.
func (w *watch) check() error {
	if w.done || w.last.State == nil || w.last.State.Update.LastOutcome == nil {
		return nil
	}
	o := w.last.State.Update.LastOutcome
	wantResult, wantVersion := w.want()
	switch {
	case o.Result != wantResult:
		return fmt.Errorf("device %s: the update ended %s (reason %s: %s), the story wants %s; see %s",
			w.dev.id, o.Result, o.Reason, o.Detail, wantResult, w.dev.log)
	case w.dev.failing && !strings.HasPrefix(o.Reason, "health-check-failed"):
		return fmt.Errorf("device %s: rolled back with reason %s (%s), the story wants health-check-failed; see %s",
			w.dev.id, o.Reason, o.Detail, w.dev.log)
	case w.last.Version == wantVersion && w.finalShown:
		w.done = true
	}
	return nil
}

// late explains which part of the story did not happen in time.
func (s *story) late(ws []*watch, fleetIn bool) error {
	var behind []string
	for _, w := range ws {
		if w.done {
			continue
		}
		want, version := w.want()
		now := "not seen by the gateway"
		if w.seen {
			now = fmt.Sprintf("phase %q, version %s", w.last.Phase, w.last.Version)
		}
		behind = append(behind, fmt.Sprintf("%s: %s, want %s with version %s (see %s)", w.dev.id, now, want, version, s.rel(w.dev.log)))
	}
	if !fleetIn {
		behind = append(behind, fmt.Sprintf("the simulated fleet is not all in (see %s)", s.rel(s.o.dir+"/fleet.log")))
	}
	return fmt.Errorf("the story did not happen within %s:\n  %s", s.o.timeout, strings.Join(behind, "\n  "))
}

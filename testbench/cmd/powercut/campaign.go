package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"patchbay.dev/agent/install"
	"patchbay.dev/firmware/meta"
	"patchbay.dev/testbench/sim"
)

// options shape a campaign.
type options struct {
	cuts       int     // power cuts to make
	seed       uint64  // seeds every random choice (not the scheduler's timing)
	cutRate    float64 // share of agent runs that get cut
	tearRate   float64 // share of cuts that also tear the write in flight
	dir        string  // work directory; a temporary one if empty
	keep       bool    // keep the work directory
	verbose    bool    // a line per update on stderr
	slotSize   int64
	minImage   int
	maxImage   int
	checkpoint int64
	trial      time.Duration
}

// imageKind is what an update's image is like.
type imageKind string

const (
	good       imageKind = "good"
	unwell     imageKind = "health-fails"
	wrongBoard imageKind = "wrong-board"
	corrupted  imageKind = "corrupted"
	truncated  imageKind = "truncated"
)

// tally is what the campaign counts.
type tally struct {
	cuts, bricked, resumed, rolledBack, committed, failed int
	runs, updates, checkpointResumes, devices             int
	phases, tears, outcomes                               map[string]int
	runTime                                               map[string]time.Duration
	runCount                                              map[string]int
	publishTime                                           time.Duration
	violations                                            []string
}

type campaign struct {
	opts     options
	rng      *rand.Rand
	w        *world
	exe      string
	stderr   io.Writer
	agentLog io.Writer
	devDir   string
	stateDir string
	lastCut  bool // the previous agent run was cut
	// events and took are how many events the last uncut agent run that
	// started the same way ("S" event) had and how long it took: where
	// cuts are spread.
	events map[string]int
	took   map[string]time.Duration
	t      tally
}

// agentProc is one run of the agent process.
type agentProc struct {
	events []event
	killed bool
	res    agentResult
}

func (r agentProc) rebooted() bool {
	return slices.ContainsFunc(r.events, func(e event) bool { return e.kind == "B" })
}

// update installs one new image, cutting the power along the way, until
// the update ends; then it checks the device.
func (c *campaign) update(ctx context.Context, n int) error {
	c.t.updates++
	version := fmt.Sprintf("1.%d.0", n)
	kind := c.pickKind()
	board := sim.DefaultBoard
	if kind == wrongBoard {
		board = "another-board"
	}
	payload := make([]byte, c.opts.minImage+c.rng.IntN(c.opts.maxImage-c.opts.minImage+1))
	for i := range payload {
		payload[i] = byte(c.rng.Uint32())
	}
	img, err := sim.Build(board, version, payload, kind == unwell)
	if err != nil {
		return err
	}
	name := "sim/firmware-" + version + ".bin"
	defer func(t time.Time) { c.t.publishTime += time.Since(t) }(time.Now())
	if err := c.w.publish(ctx, name, img, meta.Target{Kind: meta.KindFirmware, Boards: []string{board}, Version: version}); err != nil {
		return fmt.Errorf("publish %s: %w", name, err)
	}
	switch kind {
	case corrupted:
		at := c.rng.IntN(len(img))
		c.w.alter(name, func(b []byte) []byte { b[at] ^= 0x01; return b })
	case truncated:
		keep := c.rng.IntN(len(img))
		c.w.alter(name, func(b []byte) []byte { return b[:keep] })
	}
	_, before, err := c.w.device().Running(ctx)
	if err != nil {
		return err
	}
	cuts := 0
	for runs := 1; ; runs++ {
		if runs > 100 {
			c.violation("update %s (%s): not finished after 100 agent runs", version, kind)
			return c.reprovision(ctx)
		}
		r, err := c.runAgent(ctx, name, c.t.cuts < c.opts.cuts && c.rng.Float64() < c.opts.cutRate)
		if err != nil {
			return err
		}
		if r.killed {
			cuts++
			if bricked := c.afterCut(ctx, r, version); bricked {
				return c.reprovision(ctx)
			}
			continue
		}
		switch {
		case r.res.Error != "":
			// A transient failure: the daemon would try again later.
		case r.rebooted():
			if c.boot(ctx, "after a reboot request in update "+version) {
				return c.reprovision(ctx)
			}
		case install.State(r.res.State).Final():
			c.finished(ctx, kind, version, before.Version, r.res)
			if c.opts.verbose {
				fmt.Fprintf(c.stderr, "update %d %s %s: %s (%s) after %d runs, %d cuts\n", n, version, kind, r.res.State, r.res.Reason, runs, cuts)
			}
			return nil
		}
	}
}

func (c *campaign) pickKind() imageKind {
	switch x := c.rng.Float64(); {
	case x < 0.30:
		return unwell
	case x < 0.34:
		return wrongBoard
	case x < 0.37:
		return corrupted
	case x < 0.40:
		return truncated
	}
	return good
}

// runAgent starts the agent process and, if cut is set, kills it (and
// what it started) a random while after a random one of its events.
func (c *campaign) runAgent(ctx context.Context, target string, cut bool) (agentProc, error) {
	c.t.runs++
	began := time.Now()
	pr, pw, err := os.Pipe()
	if err != nil {
		return agentProc{}, err
	}
	cfg := agentConfig{device: c.devDir, state: c.stateDir, url: c.w.url, target: target,
		checkpoint: c.opts.checkpoint, trial: c.opts.trial, traceFD: 3}
	cmd := exec.CommandContext(ctx, c.exe, cfg.args()...)
	ownGroup(cmd)
	// A race-detecting agent (the test binary under go test -race) would
	// wait a second at every exit for late race reports.
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = &out, c.agentLog, []*os.File{pw}
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return agentProc{}, fmt.Errorf("start agent: %w", err)
	}
	events := make(chan event, 64)
	go readEvents(pr, events) // ends when the agent's end of the pipe closes
	var (
		r     agentProc
		kill  <-chan time.Time
		at    int // cut this long after event number at; 0: at a time
		start string
		first time.Time // of the first event
	)
	for events != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			r.events = append(r.events, ev)
			if len(r.events) == 1 {
				start, first = ev.field(0)+" "+ev.field(1), time.Now()
				if cut {
					var wait time.Duration
					at, wait = c.cutPoint(start)
					if at == 0 {
						kill = time.After(wait)
					}
				}
			}
			if at > 0 && len(r.events) == at {
				kill = time.After(c.delay())
			}
		case <-kill:
			kill = nil
			_ = cutPower(cmd.Process.Pid) // the agent may have ended already
		}
	}
	pr.Close()
	werr := cmd.Wait()
	r.killed = killedByCut(cmd.ProcessState)
	for _, ev := range r.events {
		if ev.kind == "S" && ev.field(0) == "resume" && c.lastCut {
			c.t.resumed++
		}
	}
	for i, ev := range r.events {
		if ev.kind == "S" && ev.field(0) == "resume" && ev.field(1) == string(install.StateDownloading) &&
			i+1 < len(r.events) && r.events[i+1].kind == "P" && r.events[i+1].int(1) > 0 {
			c.t.checkpointResumes++
		}
	}
	c.lastCut = r.killed
	key, took := start, time.Since(first)
	if r.killed {
		key += " (cut)"
	}
	c.t.runTime[key] += time.Since(began)
	c.t.runCount[key]++
	if r.killed {
		return r, nil
	}
	if start != "" {
		c.events[start] = len(r.events)
		c.took[start] = took
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r.res); err != nil {
		return r, fmt.Errorf("agent run ended (%v) without a result: %q", werr, out.String())
	}
	return r, nil
}

// cutPoint chooses when to cut a run that started as start: half the
// time right after one of its events (at > 0; every step gets its share,
// however short), half the time at a random instant of its expected
// duration (every millisecond gets its share). Expectations come from the
// last uncut run that started the same way.
func (c *campaign) cutPoint(start string) (at int, wait time.Duration) {
	if c.rng.IntN(2) == 0 {
		return 1 + c.rng.IntN(max(c.events[start], 1)), 0
	}
	took := c.took[start]
	if took <= 0 {
		took = 50 * time.Millisecond
	}
	return 0, time.Duration(c.rng.Int64N(int64(took)))
}

// delay is how long after its chosen event a cut comes: mostly at once,
// sometimes into the next step (a download chunk, a health check).
func (c *campaign) delay() time.Duration {
	if c.rng.IntN(10) < 7 {
		return time.Duration(c.rng.Int64N(int64(2 * time.Millisecond)))
	}
	return time.Duration(c.rng.Int64N(int64(20 * time.Millisecond)))
}

// afterCut counts a cut, maybe tears the write in flight, and boots the
// device. It reports whether the device is bricked.
func (c *campaign) afterCut(ctx context.Context, r agentProc, version string) bool {
	c.t.cuts++
	c.t.phases[phaseOf(r.events)]++
	torn, err := c.tear(r)
	if err != nil {
		c.violation("tear after a cut in update %s: %v", version, err)
	}
	if torn != "" {
		c.t.tears[torn]++
	}
	if bricked, why := c.w.device().Bricked(ctx); bricked {
		c.t.bricked++
		c.violation("BRICKED after a cut in update %s (phase %s, torn %q): %s; events %v", version, phaseOf(r.events), torn, why, r.events)
		return true
	}
	return c.boot(ctx, "after a cut in update "+version)
}

// phaseOf names where an agent run was when it was cut.
func phaseOf(events []event) string {
	phase := "start"
	for _, ev := range events {
		switch ev.kind {
		case "P":
			phase = ev.field(0)
		case "W":
			phase += "+env-write"
		case "D":
			phase = strings.TrimSuffix(phase, "+env-write")
		case "R":
			phase = "reported"
		case "B":
			phase = "reboot-asked"
		}
	}
	return phase
}

// boot powers the device on; it reports whether that failed (bricked).
func (c *campaign) boot(ctx context.Context, when string) bool {
	if _, err := c.w.device().Boot(ctx); err != nil {
		c.t.bricked++
		c.violation("BRICKED: boot %s: %v", when, err)
		return true
	}
	return false
}

// finished counts an update's outcome and checks the device after it.
func (c *campaign) finished(ctx context.Context, kind imageKind, version, before string, res agentResult) {
	c.t.outcomes[string(kind)+" → "+res.State+" ("+reasonBase(res.Reason)+")"]++
	want := before
	switch install.State(res.State) {
	case install.StateCommitted:
		c.t.committed++
		want = version
		if kind != good {
			c.violation("update %s with a %s image was committed", version, kind)
		}
	case install.StateRolledBack:
		c.t.rolledBack++
		if kind != good && kind != unwell {
			c.violation("update %s with a %s image got as far as a trial", version, kind)
		}
		if kind == good && install.Reason(res.Reason).Base() == install.ReasonHealthCheckFailed {
			fmt.Fprintf(c.stderr, "powercut: note: update %s with a good image failed its health checks: %s\n", version, res.Detail)
		}
	case install.StateFailed:
		c.t.failed++
	}
	slotValue, im, err := c.w.device().Running(ctx)
	if err != nil {
		c.violation("after update %s: %v", version, err)
		return
	}
	if im.Version != want {
		c.violation("after update %s ended %s the device runs %s, want %s", version, res.State, im.Version, want)
	}
	env, err := c.w.device().Env().Read(ctx)
	if err != nil {
		c.violation("after update %s: %v", version, err)
		return
	}
	if v, _ := env.Get(sim.SlotVariable); v != slotValue {
		c.violation("after update %s the environment selects slot %s, slot %s runs", version, v, slotValue)
	}
	if ua, _ := env.Get(sim.VarUpgradeAvailable); ua != "0" {
		c.violation("after update %s upgrade_available=%s", version, ua)
	}
}

// reasonBase drops the detail of a reason, except which attempts ran out.
func reasonBase(r string) string {
	if install.Reason(r).Base() == install.ReasonAttempts {
		return r
	}
	return string(install.Reason(r).Base())
}

// reprovision replaces a device that can no longer take part with a new one.
func (c *campaign) reprovision(ctx context.Context) error {
	c.t.devices++
	var err error
	c.devDir, c.stateDir, err = c.w.newDevice(ctx, fmt.Sprintf("device-%d", c.t.devices), c.opts.slotSize)
	c.lastCut = false
	return err
}

func (c *campaign) violation(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.t.violations = append(c.t.violations, msg)
	fmt.Fprintln(c.stderr, "powercut:", msg)
}

// report prints the details on w.
func (t tally) report(w io.Writer, elapsed time.Duration) {
	fmt.Fprintf(w, "%d updates, %d agent runs, %d failed, %d downloads resumed from a checkpoint, %d devices, %s\n",
		t.updates, t.runs, t.failed, t.checkpointResumes, t.devices, elapsed.Round(time.Millisecond))
	for _, group := range []struct {
		name string
		m    map[string]int
	}{{"cuts by phase", t.phases}, {"torn writes", t.tears}, {"outcomes", t.outcomes}} {
		fmt.Fprintf(w, "%s:\n", group.name)
		for _, k := range slices.Sorted(maps.Keys(group.m)) {
			fmt.Fprintf(w, "  %5d  %s\n", group.m[k], k)
		}
	}
	fmt.Fprintf(w, "agent runs by start (mean wall time):\n")
	for _, k := range slices.Sorted(maps.Keys(t.runCount)) {
		fmt.Fprintf(w, "  %5d  %-30s %s\n", t.runCount[k], k, (t.runTime[k] / time.Duration(t.runCount[k])).Round(time.Millisecond))
	}
}

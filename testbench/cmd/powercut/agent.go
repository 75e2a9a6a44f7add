package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/install"
	"patchbay.dev/firmware/slot"
	"patchbay.dev/firmware/trust"
	"patchbay.dev/testbench/sim"
)

// agentResult is what an agent run prints on its last line.
type agentResult struct {
	Target  string `json:"target"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	Detail  string `json:"detail,omitempty"`
	Resumed bool   `json:"resumed"`
	Error   string `json:"error,omitempty"`
}

// agentConfig is how the campaign starts an agent.
type agentConfig struct {
	device     string // sim device directory
	state      string // the agent's state directory
	url        string // repository and device services
	target     string // the signed target to install
	checkpoint int64
	trial      time.Duration
	traceFD    int
}

func (c agentConfig) args() []string {
	return []string{"agent", "-device", c.device, "-state", c.state, "-url", c.url, "-target", c.target,
		"-checkpoint", fmt.Sprint(c.checkpoint), "-trial", c.trial.String(), "-trace-fd", fmt.Sprint(c.traceFD)}
}

// runAgent is the agent process: the real install engine against the
// simulated device, configured as the daemon would configure it.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c agentConfig
	fs := flag.NewFlagSet("powercut agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.device, "device", "", "simulated device directory")
	fs.StringVar(&c.state, "state", "", "agent state directory")
	fs.StringVar(&c.url, "url", "", "base URL of the repository (metadata/, targets/), /health and /gateway")
	fs.StringVar(&c.target, "target", "", "target to install")
	fs.Int64Var(&c.checkpoint, "checkpoint", 128<<10, "bytes between download checkpoints")
	fs.DurationVar(&c.trial, "trial", 300*time.Millisecond, "trial timeout")
	fs.IntVar(&c.traceFD, "trace-fd", -1, "file descriptor to write events to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tr := openTrace(c.traceFD)
	res, err := agentRun(ctx, c, tr, stderr)
	if err != nil {
		res.Error = err.Error()
	}
	return json.NewEncoder(stdout).Encode(res)
}

func agentRun(ctx context.Context, c agentConfig, tr *tracer, stderr io.Writer) (agentResult, error) {
	res := agentResult{Target: c.target}
	dev, err := sim.Open(c.device)
	if err != nil {
		return res, err
	}
	client, err := trust.New(trust.Options{
		MetadataDir: filepath.Join(c.state, "tuf"),
		Remote:      &trust.HTTPRemote{Client: trust.NewHTTPClient(), MetadataURL: c.url + "/metadata", TargetsURL: c.url + "/targets"},
	})
	if err != nil {
		return res, err
	}
	profile := dev.Profile()
	head := filepath.Join(c.state, "slot.head")
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	checks := install.Checks(profile.Health, []config.Check{
		{Name: "image-marker", Command: []string{"grep", "-qx", "ok", dev.HealthFile()}, Timeout: config.Duration(5 * time.Second)},
	})
	checks = append(checks, install.Check{Name: "gateway", Kind: install.CheckRoundtrip, Timeout: 5 * time.Second})
	e, err := install.New(install.Options{
		Dir:   c.state,
		Board: profile,
		Env:   tracedEnv{store: dev.Env(), tr: tr},
		Slots: map[string]slot.Slot{
			"A": install.NewResumable(dev.Slot("A"), head),
			"B": install.NewResumable(dev.Slot("B"), head),
		},
		Booted:          install.CmdlineBooted(dev.CmdlinePath(), sim.SlotVariable),
		Rebooter:        install.RebootFunc(func(context.Context) error { tr.emit("B"); return nil }),
		Fetcher:         client,
		Lookup:          install.CachedLookup(client),
		Checks:          checks,
		Roundtrip:       func(ctx context.Context) error { return get(ctx, probe, c.url+"/gateway") },
		HTTPClient:      probe,
		Reporter:        tr,
		Logger:          slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		CheckpointBytes: c.checkpoint,
		// A checkpoint at every boundary, so that cuts land between them.
		CheckpointInterval: -1,
		TrialTimeout:       c.trial,
		CheckInterval:      c.trial / 8,
		RetryWait:          10 * time.Millisecond,
	})
	if err != nil {
		return res, err
	}
	j, err := e.Status()
	if err != nil && !errors.Is(err, install.ErrJournalCorrupt) {
		return res, err
	}
	var out install.Outcome
	switch {
	case j != nil && !j.State.Final():
		tr.emit("S", "resume", string(j.State))
		res.Resumed = true
		out, err = e.Resume(ctx)
	case j != nil && j.Target.Name == c.target:
		tr.emit("S", "idle")
		out, err = e.Resume(ctx) // reports an unreported result
	default:
		tr.emit("S", "install")
		var t trust.Target
		if t, err = lookup(ctx, client, c.target); err == nil {
			_, im, _ := dev.Running(ctx)
			out, err = e.Install(ctx, install.Request{Target: t, FromVersion: im.Version})
		}
	}
	res.State, res.Reason, res.Detail = string(out.State), string(out.Reason), out.Detail
	var ue *install.Error
	if errors.As(err, &ue) {
		err = nil // the outcome says it
	}
	return res, err
}

// lookup refreshes the trusted metadata and finds the target.
func lookup(ctx context.Context, c *trust.Client, name string) (trust.Target, error) {
	s, err := c.Refresh(ctx)
	if err != nil {
		return trust.Target{}, err
	}
	defer s.Close()
	return s.Target(ctx, name)
}

func get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return nil
}

package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"patchbay.dev/agent/config"
	"patchbay.dev/boards"
)

// CheckKind names a kind of health check. Values are the board profiles'.
type CheckKind string

// The kinds of check.
const (
	CheckCommand   CheckKind = CheckKind(boards.HealthCommand)       // exit status 0 passes
	CheckHTTP      CheckKind = CheckKind(boards.HealthHTTP)          // GET; 2xx, or ExpectStatus, passes
	CheckRoundtrip CheckKind = CheckKind(boards.HealthMQTTRoundtrip) // Options.Roundtrip returns nil
)

// Check is one health check of a trial.
type Check struct {
	Name         string
	Kind         CheckKind
	Command      []string // CheckCommand: argv
	URL          string   // CheckHTTP
	ExpectStatus int      // CheckHTTP: the status that passes; 0 means any 2xx
	// Timeout bounds one run of the check; 30s if 0.
	Timeout time.Duration
}

// Checks returns the health checks of a board profile followed by those of
// the agent's configuration; a configuration check with a command is a
// command check, one with a URL an http check.
func Checks(board []boards.HealthCheck, cfg []config.Check) []Check {
	var out []Check
	for _, h := range board {
		out = append(out, Check{Name: h.Name, Kind: CheckKind(h.Kind), Command: h.Command, URL: h.URL, ExpectStatus: h.ExpectStatus, Timeout: h.Timeout})
	}
	for _, c := range cfg {
		k := CheckHTTP
		if len(c.Command) > 0 {
			k = CheckCommand
		}
		out = append(out, Check{Name: c.Name, Kind: k, Command: c.Command, URL: c.URL, Timeout: c.Timeout.Std()})
	}
	return out
}

func (c Check) validate(haveRoundtrip bool) error {
	switch {
	case c.Name == "":
		return errors.New("health check without a name")
	case c.Kind == CheckCommand && len(c.Command) == 0:
		return fmt.Errorf("health check %s: command check without a command", c.Name)
	case c.Kind == CheckHTTP && !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://"):
		return fmt.Errorf("health check %s: URL %q is not http or https", c.Name, c.URL)
	case c.Kind == CheckRoundtrip && !haveRoundtrip:
		return fmt.Errorf("health check %s: a gateway round trip, but no Roundtrip function is configured", c.Name)
	case c.Kind != CheckCommand && c.Kind != CheckHTTP && c.Kind != CheckRoundtrip:
		return fmt.Errorf("health check %s: unknown kind %q (want command, http or mqtt-roundtrip)", c.Name, c.Kind)
	}
	return nil
}

// healthy runs the checks in rounds until one round passes completely or
// TrialTimeout passes; then it returns the name of the check that failed
// last and its error. If ctx ends first it returns ctx's error: the agent
// is stopping, which decides nothing about the new version.
func (e *Engine) healthy(ctx context.Context) (string, error) {
	tctx, cancel := context.WithTimeout(ctx, e.opts.TrialTimeout)
	defer cancel()
	for round := 1; ; round++ {
		name, err := e.runChecks(tctx)
		if err == nil {
			e.log.Info("health checks passed", "checks", len(e.opts.Checks), "round", round)
			return "", nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		e.log.Warn("health check failed", "check", name, "round", round, "err", err)
		select {
		case <-tctx.Done():
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return name, fmt.Errorf("health check %s still failing after %s: %w", name, e.opts.TrialTimeout, err)
		case <-time.After(e.opts.CheckInterval):
		}
	}
}

// runChecks runs every check once, stopping at the first that fails.
func (e *Engine) runChecks(ctx context.Context) (string, error) {
	for _, c := range e.opts.Checks {
		timeout := c.Timeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := e.runCheck(cctx, c)
		cancel()
		if err != nil {
			return c.Name, err
		}
	}
	return "", nil
}

func (e *Engine) runCheck(ctx context.Context, c Check) error {
	switch c.Kind {
	case CheckCommand:
		return runCommand(ctx, c.Command)
	case CheckHTTP:
		return e.probe(ctx, c)
	case CheckRoundtrip:
		if err := e.opts.Roundtrip(ctx); err != nil {
			return fmt.Errorf("gateway round trip: %w", err)
		}
		return nil
	}
	return fmt.Errorf("unknown kind %q", c.Kind)
}

// runCommand runs argv and fails with its output's end if it does not
// exit 0 before ctx ends.
func runCommand(ctx context.Context, argv []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out := &tailBuffer{max: 2 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out.b))
	}
	return nil
}

// probe GETs the check's URL.
func (e *Engine) probe(ctx context.Context, c Check) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return err
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	ok := resp.StatusCode/100 == 2
	if c.ExpectStatus != 0 {
		ok = resp.StatusCode == c.ExpectStatus
	}
	if !ok {
		return fmt.Errorf("GET %s: status %d: %s", c.URL, resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

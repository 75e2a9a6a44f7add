package releasecli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"patchbay.dev/tools/command"
	"patchbay.dev/tools/release"
)

const binary = "patchbay-release"

// Run executes patchbay-release with args (without the program name).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{}
	return e.root().Execute(ctx, args, command.IO{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

// env holds the global flags every command shares.
type env struct {
	layout  release.Layout
	verbose bool
	now     string // RFC 3339; hidden, for tests of expiry
}

func (e *env) root() *command.Command {
	return &command.Command{
		Name:  binary,
		Short: "Sign firmware and app images into Patchbay's TUF repository and publish it as static files.",
		Long: `
A repository's working state lives in the --repo directory (settings, staged
metadata, and public/, the directory a web server serves). Keys live in --keys
(default REPO/keys); root keys in --root-keys (default the keys directory): keep
that one offline and give it only to init and "rotate root".

A typical life:
  patchbay-release --repo r init
  patchbay-release --repo r add --meta 23.05.3.yaml --name openwrt/ath79/sysupgrade-23.05.3.bin sysupgrade.bin
  patchbay-release --repo r publish          # then sync r/public to the web server
  patchbay-release --repo r timestamp        # from cron, daily or more often
  patchbay-release --repo r verify

Flags of a command come before its arguments.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&e.layout.Repo, "repo", ".", "repository `directory`")
			fs.StringVar(&e.layout.Keys, "keys", "", "key `directory` (default REPO/keys)")
			fs.StringVar(&e.layout.RootKeys, "root-keys", "", "root key `directory` (default the key directory)")
			fs.BoolVar(&e.verbose, "verbose", false, "log progress to stderr")
			fs.StringVar(&e.now, "now", "", "pretend the time is `RFC3339` (for testing expiry)")
		},
		Subcommands: []*command.Command{
			e.initCmd(), e.addCmd(), e.removeCmd(), e.listCmd(), e.delegateCmd(),
			e.publishCmd(), e.timestampCmd(), e.rotateCmd(), e.verifyCmd(),
			command.Version(binary),
		},
	}
}

func (e *env) logger(stdio command.IO) *slog.Logger {
	level := slog.LevelWarn
	if e.verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(stdio.Stderr, &slog.HandlerOptions{Level: level}))
}

func (e *env) clock() (func() time.Time, error) {
	if e.now == "" {
		return time.Now, nil
	}
	t, err := time.Parse(time.RFC3339, e.now)
	if err != nil {
		return nil, &command.UsageError{Command: binary, Problem: fmt.Sprintf("--now %q: want RFC 3339, e.g. 2030-01-02T15:04:05Z", e.now)}
	}
	return func() time.Time { return t }, nil
}

func (e *env) options(stdio command.IO) (release.Options, error) {
	now, err := e.clock()
	if err != nil {
		return release.Options{}, err
	}
	return release.Options{Now: now, Logger: e.logger(stdio)}, nil
}

func (e *env) open(stdio command.IO) (*release.Repo, error) {
	opts, err := e.options(stdio)
	if err != nil {
		return nil, err
	}
	return release.Open(e.layout, opts)
}

func usage(cmd, problem string) error {
	return &command.UsageError{Command: binary + " " + cmd, Problem: problem}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// listFlag collects a repeatable flag; a value may also hold several
// items separated by commas.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// roleValues collects repeatable ROLE=VALUE flags.
type roleValues map[string]string

func (m roleValues) String() string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (m roleValues) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		role, val, ok := strings.Cut(strings.TrimSpace(s), "=")
		if !ok || role == "" || val == "" {
			return fmt.Errorf("%q: want ROLE=VALUE", s)
		}
		m[role] = val
	}
	return nil
}

func (m roleValues) ints(flagName string) (map[string]int, error) {
	out := map[string]int{}
	for role, v := range m {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--%s %s=%s: want a positive number", flagName, role, v)
		}
		out[role] = n
	}
	return out, nil
}

func (m roleValues) durations(flagName string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for role, v := range m {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--%s %s=%s: want a positive duration such as 2160h", flagName, role, v)
		}
		out[role] = d
	}
	return out, nil
}

package tufcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"patchbay.dev/firmware/buildinfo"
	"patchbay.dev/firmware/trust"
	"patchbay.dev/tools/command"
)

// flags are the global flags of the tuf command, accepted in any order
// before the subcommand.
type flags struct {
	metadataDir   string
	metadataURL   string
	targetDir     string
	targetBaseURL string
	targetNames   names
	now           string
}

type names []string

func (n *names) String() string     { return strings.Join(*n, ",") }
func (n *names) Set(v string) error { *n = append(*n, v); return nil }

// Command returns the "tuf" command with its subcommands init, refresh and
// download.
func Command() *command.Command {
	f := &flags{}
	return &command.Command{
		Name:  "tuf",
		Short: "run the device's TUF client by hand: init, refresh, download",
		Long: `
Keeps trusted TUF metadata in --metadata-dir (only <role>.json files) and
fetches from --metadata-url; download stores verified targets in --target-dir.
--now pretends another time, to see how the client treats expiry.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&f.metadataDir, "metadata-dir", "", "trusted metadata `directory`")
			fs.StringVar(&f.metadataURL, "metadata-url", "", "repository metadata `URL`")
			fs.StringVar(&f.targetDir, "target-dir", "", "`directory` for downloaded targets")
			fs.StringVar(&f.targetBaseURL, "target-base-url", "", "repository targets `URL`")
			fs.Var(&f.targetNames, "target-name", "target `path` to download (repeatable)")
			fs.StringVar(&f.now, "now", "", "reference time for expiry, `RFC3339` (default now)")
		},
		Subcommands: []*command.Command{f.initCmd(), f.refreshCmd(), f.downloadCmd()},
	}
}

func (f *flags) initCmd() *command.Command {
	return &command.Command{
		Name:  "init",
		Args:  "TRUSTED_ROOT_FILE",
		Short: "trust a root.json (checked to be self-signed); no network",
		Run: func(_ context.Context, _ command.IO, args []string) error {
			if len(args) != 1 {
				return errors.New("tuf init: takes one TRUSTED_ROOT_FILE")
			}
			if f.metadataDir == "" {
				return errors.New("tuf init: --metadata-dir is required")
			}
			root, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("tuf init: %w", err)
			}
			if err := trust.Init(f.metadataDir, root); err != nil {
				return fmt.Errorf("tuf init: %w", err)
			}
			return nil
		},
	}
}

func (f *flags) refreshCmd() *command.Command {
	return &command.Command{
		Name:  "refresh",
		Short: "update the trusted top-level metadata from the repository",
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) != 0 {
				return errors.New("tuf refresh: takes no arguments")
			}
			c, err := f.client(stdio)
			if err != nil {
				return fmt.Errorf("tuf refresh: %w", err)
			}
			s, err := c.Refresh(ctx)
			if err != nil {
				return fmt.Errorf("tuf refresh: %w", err)
			}
			return s.Close()
		},
	}
}

func (f *flags) downloadCmd() *command.Command {
	return &command.Command{
		Name:  "download",
		Short: "refresh, then download each --target-name into --target-dir unless a verified copy is there",
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) != 0 {
				return errors.New("tuf download: takes no arguments (name targets with --target-name)")
			}
			if f.targetDir == "" || f.targetBaseURL == "" || len(f.targetNames) == 0 {
				return errors.New("tuf download: --target-dir, --target-base-url and --target-name are required")
			}
			c, err := f.client(stdio)
			if err != nil {
				return fmt.Errorf("tuf download: %w", err)
			}
			s, err := c.Refresh(ctx)
			if err != nil {
				return fmt.Errorf("tuf download: %w", err)
			}
			defer s.Close()
			if err := os.MkdirAll(f.targetDir, 0o755); err != nil {
				return fmt.Errorf("tuf download: %w", err)
			}
			for _, name := range f.targetNames {
				file := url.PathEscape(name)
				if file == "." || file == ".." {
					return fmt.Errorf("tuf download: target name %q cannot be a file name", name)
				}
				t, err := s.Target(ctx, name)
				if err != nil {
					return fmt.Errorf("tuf download: %w", err)
				}
				if err := c.DownloadFile(ctx, t, filepath.Join(f.targetDir, file)); err != nil {
					return fmt.Errorf("tuf download: %w", err)
				}
			}
			return nil
		},
	}
}

func (f *flags) client(stdio command.IO) (*trust.Client, error) {
	if f.metadataDir == "" || f.metadataURL == "" {
		return nil, errors.New("--metadata-dir and --metadata-url are required")
	}
	now := time.Now
	if f.now != "" {
		t, err := time.Parse(time.RFC3339, f.now)
		if err != nil {
			return nil, fmt.Errorf("--now %q: want RFC 3339, e.g. 2030-01-02T15:04:05Z", f.now)
		}
		now = func() time.Time { return t }
	}
	return trust.New(trust.Options{
		MetadataDir: f.metadataDir,
		Remote: &trust.HTTPRemote{
			Client:      trust.NewHTTPClient(),
			MetadataURL: f.metadataURL,
			TargetsURL:  f.targetBaseURL,
			UserAgent:   "patchbay-agent/" + buildinfo.Version,
		},
		Now:    now,
		Logger: slog.New(slog.NewTextHandler(stdio.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
}

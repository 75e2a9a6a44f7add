package releasecli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"patchbay.dev/tools/command"
	"patchbay.dev/tools/release"
)

func (e *env) publishCmd() *command.Command {
	var asJSON bool
	return &command.Command{
		Name:  "publish",
		Short: "sign a new snapshot and timestamp and write the public directory",
		Long: `
Signs changed roles, renews targets roles that would expire before the new
snapshot, and writes REPO/public/metadata with a new snapshot and timestamp
(timestamp.json last). Serve or sync REPO/public as static files. Run it at
least once per snapshot expiry (weekly by default), e.g. from cron.`,
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print as JSON")
		},
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) > 0 {
				return usage("publish", "takes no arguments")
			}
			r, err := e.open(stdio)
			if err != nil {
				return err
			}
			p, err := r.Publish(ctx)
			if err != nil {
				return err
			}
			return printPublished(stdio, asJSON, e.layout, p)
		},
	}
}

func (e *env) timestampCmd() *command.Command {
	var asJSON bool
	return &command.Command{
		Name:  "timestamp",
		Short: "re-sign only the timestamp with a fresh expiry (for cron; needs only the timestamp key)",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print as JSON")
		},
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) > 0 {
				return usage("timestamp", "takes no arguments")
			}
			r, err := e.open(stdio)
			if err != nil {
				return err
			}
			p, err := r.Timestamp(ctx)
			if err != nil {
				return err
			}
			return printPublished(stdio, asJSON, e.layout, p)
		},
	}
}

func printPublished(stdio command.IO, asJSON bool, l release.Layout, p release.Published) error {
	if asJSON {
		return printJSON(stdio.Stdout, p)
	}
	_, err := fmt.Fprintf(stdio.Stdout, "published snapshot %d, timestamp %d in %s (%s)\n", p.Snapshot, p.Timestamp, l.Public(), strings.Join(p.Files, " "))
	return err
}

func (e *env) rotateCmd() *command.Command {
	var rot release.Rotation
	var keyType string
	var asJSON bool
	return &command.Command{
		Name:  "rotate",
		Args:  "ROLE",
		Short: "replace a role's keys (for root: a new root version signed by old and new keys)",
		Long: `
Generates new keys for ROLE and drops the old ones, which move to a retired/
directory beside them. For root, targets, snapshot and timestamp this signs a
new root version with a threshold of the old root keys and of the new ones,
so devices follow N.root.json to it and refuse the old keys afterwards; for a
delegated role the delegating role changes. Run publish afterwards.`,
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&rot.Threshold, "threshold", 0, "new threshold (default: keep)")
			fs.IntVar(&rot.Keys, "key-count", 0, "keys to generate (default the threshold)")
			fs.StringVar(&keyType, "key-type", string(release.KeyEd25519), "key `type`: ed25519 or ecdsa-p256")
			fs.BoolVar(&asJSON, "json", false, "print as JSON")
		},
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) != 1 {
				return usage("rotate", "takes one ROLE (flags go before it)")
			}
			kt, err := release.ParseKeyType(keyType)
			if err != nil {
				return usage("rotate", err.Error())
			}
			rot.Role, rot.KeyType = args[0], kt
			r, err := e.open(stdio)
			if err != nil {
				return err
			}
			out, err := r.Rotate(ctx, rot)
			if err != nil {
				return err
			}
			if err := r.Save(ctx); err != nil {
				return err
			}
			if asJSON {
				return printJSON(stdio.Stdout, out)
			}
			fmt.Fprintf(stdio.Stdout, "rotated %s: keys %s (root version %d)\n", out.Role, strings.Join(out.KeyIDs, " "), out.RootVersion)
			for _, f := range out.Retired {
				fmt.Fprintf(stdio.Stdout, "retired %s\n", f)
			}
			_, err = fmt.Fprintln(stdio.Stdout, "next: publish")
			return err
		},
	}
}

func (e *env) verifyCmd() *command.Command {
	var rootFile string
	var asJSON bool
	return &command.Command{
		Name:  "verify",
		Args:  "[DIR]",
		Short: "check a published repository as a device would and report what is wrong",
		Long: `
Walks DIR (default REPO/public) with the device's TUF client: the root chain
from --root (default DIR/metadata/1.root.json), signatures and thresholds,
versions, expiry (at --now if given), every delegated role and every target's
length and hashes. Exits 1 and lists the problems if a device would refuse
anything; warns about roles close to expiry.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&rootFile, "root", "", "trusted root.json `file` devices ship with")
			fs.BoolVar(&asJSON, "json", false, "print as JSON")
		},
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) > 1 {
				return usage("verify", "takes at most one DIR")
			}
			dir := e.layout.Public()
			if len(args) == 1 {
				dir = args[0]
			}
			now, err := e.clock()
			if err != nil {
				return err
			}
			opts := release.VerifyOptions{Dir: dir, Now: now(), Logger: e.logger(stdio)}
			if rootFile != "" {
				if opts.Root, err = os.ReadFile(rootFile); err != nil {
					return err
				}
			}
			rep, err := release.Verify(ctx, opts)
			if err != nil && !errors.Is(err, release.ErrVerifyFailed) {
				return err
			}
			if asJSON {
				if perr := printJSON(stdio.Stdout, rep); perr != nil {
					return perr
				}
				return err
			}
			for _, role := range slices.Sorted(maps.Keys(rep.Roles)) {
				s := rep.Roles[role]
				fmt.Fprintf(stdio.Stdout, "%-12s version %-4d expires %s\n", role, s.Version, s.Expires.Format(time.RFC3339))
			}
			fmt.Fprintf(stdio.Stdout, "targets: %d\n", rep.Targets)
			for _, w := range rep.Warnings {
				fmt.Fprintf(stdio.Stdout, "warning: %s\n", w)
			}
			for _, p := range rep.Problems {
				fmt.Fprintf(stdio.Stdout, "problem: %s\n", p)
			}
			if err == nil {
				fmt.Fprintln(stdio.Stdout, "ok: a device would accept this repository")
			}
			return err
		},
	}
}

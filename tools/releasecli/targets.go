package releasecli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"patchbay.dev/firmware/meta"
	"patchbay.dev/tools/command"
	"patchbay.dev/tools/release"
)

func (e *env) initCmd() *command.Command {
	var keyType string
	var plain bool
	thresholds, counts, expiry := roleValues{}, roleValues{}, roleValues{}
	return &command.Command{
		Name:  "init",
		Short: "create a repository with keys for root, targets, snapshot and timestamp",
		Long: `
Creates REPO with settings and staged root (version 1) and targets metadata,
and one key per top-level role (more with --threshold or --key-count). Key files
are PKCS#8 PEM with mode 0600. Run publish afterwards.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&keyType, "key-type", string(release.KeyEd25519), "key `type`: ed25519 or ecdsa-p256")
			fs.Var(thresholds, "threshold", "signatures a role needs, `ROLE=N` (repeatable)")
			fs.Var(counts, "key-count", "keys to generate for a role, `ROLE=N` (default its threshold)")
			fs.Var(expiry, "expiry", "how long a role's metadata is valid, `ROLE=DURATION` (defaults root=8760h targets=2160h snapshot=168h timestamp=24h)")
			fs.BoolVar(&plain, "no-consistent-snapshot", false, "publish under plain file names instead of versioned and hash-prefixed ones")
		},
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) > 0 {
				return usage("init", "takes no arguments")
			}
			kt, err := release.ParseKeyType(keyType)
			if err != nil {
				return usage("init", err.Error())
			}
			in := release.InitOptions{KeyType: kt, DisableConsistentSnapshot: plain}
			if in.Thresholds, err = thresholds.ints("threshold"); err == nil {
				if in.Keys, err = counts.ints("key-count"); err == nil {
					in.Expiry, err = expiry.durations("expiry")
				}
			}
			if err != nil {
				return usage("init", err.Error())
			}
			opts, err := e.options(stdio)
			if err != nil {
				return err
			}
			r, err := release.Init(ctx, e.layout, in, opts)
			if err != nil {
				return err
			}
			root := r.Root()
			fmt.Fprintf(stdio.Stdout, "created repository %s (root version %d, consistent snapshots %t)\n", e.layout.Repo, root.Version, root.ConsistentSnapshot)
			for _, role := range metadata.TOP_LEVEL_ROLE_NAMES {
				fmt.Fprintf(stdio.Stdout, "%-9s threshold %d, keys %s\n", role, root.Roles[role].Threshold, strings.Join(root.Roles[role].KeyIDs, " "))
			}
			_, err = fmt.Fprintln(stdio.Stdout, "next: add images, then publish")
			return err
		},
	}
}

// metaFlags are the metadata of an image given as flags.
type metaFlags struct {
	file                        string
	kind, version, cvss, minVer string
	eol, released               string
	boards, cves                listFlag
	kev, reboot, downgrade      bool
}

func (m *metaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.file, "meta", "", "read the patchbay metadata from a YAML `file` instead of the flags below")
	fs.StringVar(&m.kind, "kind", "", "`kind`: firmware, app or agent")
	fs.Var(&m.boards, "board", "board profile `id` the image fits (repeatable)")
	fs.StringVar(&m.version, "version", "", "image `version`")
	fs.Var(&m.cves, "cve", "`CVE` id the image fixes (repeatable)")
	fs.StringVar(&m.cvss, "cvss", "", "CVSS v3.x `vector` of the worst hole it closes")
	fs.BoolVar(&m.kev, "kev", false, "a fixed CVE is known exploited")
	fs.BoolVar(&m.reboot, "requires-reboot", false, "installing needs a reboot")
	fs.StringVar(&m.minVer, "min-version", "", "oldest installed `version` it applies on")
	fs.BoolVar(&m.downgrade, "allow-downgrade", false, "devices on a newer version may install it")
	fs.StringVar(&m.eol, "eol", "", "end of life `YYYY-MM-DD`")
	fs.StringVar(&m.released, "released", "", "release date `YYYY-MM-DD`")
}

// target builds the metadata from the YAML file or the flags.
func (m *metaFlags) target(fs map[string]bool) (meta.Target, error) {
	if m.file != "" {
		for _, name := range []string{"kind", "board", "version", "cve", "cvss", "kev", "requires-reboot", "min-version", "allow-downgrade", "eol", "released"} {
			if fs[name] {
				return meta.Target{}, fmt.Errorf("--%s and --meta: give the metadata in one place", name)
			}
		}
		f, err := os.Open(m.file)
		if err != nil {
			return meta.Target{}, err
		}
		defer f.Close()
		t, err := meta.DecodeYAML(f)
		if err != nil {
			return meta.Target{}, fmt.Errorf("%s: %w", m.file, err)
		}
		return t, nil
	}
	t := meta.Target{
		Kind: meta.Kind(m.kind), Boards: m.boards, Version: m.version, CVEs: m.cves, CVSS: m.cvss,
		KEV: m.kev, RequiresReboot: m.reboot, MinVersion: m.minVer, AllowDowngrade: m.downgrade,
	}
	var err error
	if m.eol != "" {
		if t.EOL, err = meta.ParseDate(m.eol); err != nil {
			return t, fmt.Errorf("--eol: %w", err)
		}
	}
	if m.released != "" {
		if t.Released, err = meta.ParseDate(m.released); err != nil {
			return t, fmt.Errorf("--released: %w", err)
		}
	}
	return t, t.Validate()
}

func (e *env) addCmd() *command.Command {
	var name, role string
	var m metaFlags
	var fs *flag.FlagSet
	return &command.Command{
		Name:  "add",
		Args:  "IMAGE",
		Short: "add an image file (or - for stdin) as a target with its patchbay metadata",
		Long: `
Streams IMAGE once through SHA-256 into the public targets
directory and records it as a target (named --name, default the file's base
name) with its patchbay metadata, signed into the targets role or, with --role,
a delegated role whose paths must cover the name. The metadata comes from
flags or from a YAML file (--meta) such as:

  patchbay:
    kind: firmware
    boards: [openwrt-ath79-generic]
    version: "23.05.3"
    cves: [CVE-2024-3094]
    cvss: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    kev: true
    requires_reboot: true
    min_version: "22.03.0"
    eol: 2027-06-30
    released: 2024-06-01

Devices see it after publish.`,
		Flags: func(f *flag.FlagSet) {
			fs = f
			f.StringVar(&name, "name", "", "target `path` in the repository (default the image's base name)")
			f.StringVar(&role, "role", "", "sign into this delegated `role` instead of targets")
			m.register(f)
		},
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) != 1 {
				return usage("add", "takes one IMAGE (flags go before it)")
			}
			given := map[string]bool{}
			fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
			t, err := m.target(given)
			if err != nil {
				return usage("add", err.Error())
			}
			var src io.Reader = stdio.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				src = f
				if name == "" {
					name = filepath.Base(args[0])
				}
			}
			if name == "" {
				return usage("add", "--name is required when the image comes from stdin")
			}
			r, err := e.open(stdio)
			if err != nil {
				return err
			}
			ti, err := r.Add(ctx, src, release.Image{Name: name, Meta: t, Role: role})
			if err != nil {
				return err
			}
			if err := r.Save(ctx); err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdio.Stdout, "added %s to %s: %d bytes, sha256 %s, %s %s, severity %s\n",
				ti.Name, ti.Role, ti.Length, ti.Hashes["sha256"], t.Kind, t.Version, t.Severity())
			return err
		},
	}
}

func (e *env) removeCmd() *command.Command {
	var role string
	return &command.Command{
		Name:  "remove",
		Args:  "NAME",
		Short: "remove a target (its image files stay for devices mid-update)",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&role, "role", "", "remove only from this `role`")
		},
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) != 1 {
				return usage("remove", "takes one target NAME")
			}
			r, err := e.open(stdio)
			if err != nil {
				return err
			}
			if err := r.Remove(args[0], role); err != nil {
				return err
			}
			if err := r.Save(ctx); err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdio.Stdout, "removed %s\n", args[0])
			return err
		},
	}
}

func (e *env) listCmd() *command.Command {
	var asJSON bool
	return &command.Command{
		Name:  "list",
		Short: "list the targets of every role with their metadata",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print as JSON")
		},
		Run: func(_ context.Context, stdio command.IO, args []string) error {
			if len(args) > 0 {
				return usage("list", "takes no arguments")
			}
			r, err := e.open(stdio)
			if err != nil {
				return err
			}
			list := r.Targets()
			if asJSON {
				if list == nil {
					list = []release.TargetInfo{}
				}
				return printJSON(stdio.Stdout, list)
			}
			tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tKIND\tVERSION\tBOARDS\tSEVERITY\tKEV\tBYTES")
			for _, t := range list {
				kind, ver, boards, sev, kev := "-", "-", "-", "-", "-"
				if t.Meta != nil {
					kind, ver, boards, sev = string(t.Meta.Kind), t.Meta.Version, strings.Join(t.Meta.Boards, ","), string(t.Meta.Severity())
					if t.Meta.KEV {
						kev = "yes"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", t.Name, t.Role, kind, ver, boards, sev, kev, t.Length)
			}
			return tw.Flush()
		},
	}
}

func (e *env) delegateCmd() *command.Command {
	var d release.Delegation
	var paths listFlag
	var keyType string
	return &command.Command{
		Name:  "delegate",
		Args:  "ROLE",
		Short: "delegate target paths to a new role with its own keys (a vendor or board family)",
		Long: `
Creates the delegated ROLE, trusted only for target paths matching --path
patterns (shell-style per path segment: "openwrt/ath79/*"), with new keys in
the key directory and its own --threshold. Add its images with add --role ROLE.`,
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&paths, "path", "target path `pattern` the role is trusted for (repeatable)")
			fs.IntVar(&d.Threshold, "threshold", 1, "signatures the role needs")
			fs.IntVar(&d.Keys, "key-count", 0, "keys to generate (default the threshold)")
			fs.StringVar(&keyType, "key-type", string(release.KeyEd25519), "key `type`: ed25519 or ecdsa-p256")
			fs.StringVar(&d.Parent, "parent", "", "delegating `role` (default targets)")
			fs.BoolVar(&d.Terminating, "terminating", false, "devices look no further for paths this role is trusted for")
		},
		Run: func(ctx context.Context, stdio command.IO, args []string) error {
			if len(args) != 1 {
				return usage("delegate", "takes one ROLE name (flags go before it)")
			}
			kt, err := release.ParseKeyType(keyType)
			if err != nil {
				return usage("delegate", err.Error())
			}
			d.Role, d.Paths, d.KeyType = args[0], paths, kt
			r, err := e.open(stdio)
			if err != nil {
				return err
			}
			if err := r.Delegate(ctx, d); err != nil {
				return err
			}
			if err := r.Save(ctx); err != nil {
				return err
			}
			_, err = fmt.Fprintf(stdio.Stdout, "delegated %s to role %s (threshold %d)\n", strings.Join(d.Paths, ", "), d.Role, max(d.Threshold, 1))
			return err
		},
	}
}

package release

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"patchbay.dev/firmware/trust"
)

// ErrVerifyFailed means a published repository would not satisfy a
// device; the Report lists why.
var ErrVerifyFailed = errors.New("repository verification failed")

// VerifyOptions say what to verify and against what.
type VerifyOptions struct {
	// Dir is a published repository: Dir/metadata and Dir/targets.
	Dir string
	// Root is the root a device trusts; nil means Dir/metadata/1.root.json
	// (checks the chain from the first root, not who made it).
	Root []byte
	// Now is the time to check expiry at; zero means now.
	Now time.Time
	// Warn is how close to expiry root and targets roles get a warning;
	// zero means 30 days. Timestamp and snapshot get one within an hour.
	Warn   time.Duration
	Logger *slog.Logger
}

// RoleState is one role as a device would trust it.
type RoleState struct {
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
}

// Report is what Verify found.
type Report struct {
	Roles    map[string]RoleState `json:"roles,omitempty"`
	Targets  int                  `json:"targets"`
	Problems []string             `json:"problems,omitempty"` // a device would refuse these
	Warnings []string             `json:"warnings,omitempty"`
}

// Verify checks a published repository as a device would, with
// firmware/trust: the root chain, signatures and thresholds, versions,
// expiry at opts.Now, every delegated role, and every target's length and
// hashes under each name a client may fetch. It returns ErrVerifyFailed
// with the Report listing each problem.
func Verify(ctx context.Context, opts VerifyOptions) (Report, error) {
	var rep Report
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Warn == 0 {
		opts.Warn = 30 * 24 * time.Hour
	}
	mdDir, tgDir := filepath.Join(opts.Dir, "metadata"), filepath.Join(opts.Dir, "targets")
	root := opts.Root
	if root == nil {
		var err error
		if root, err = os.ReadFile(filepath.Join(mdDir, "1.root.json")); err != nil {
			return rep, fmt.Errorf("verify: trusted root: %w", err)
		}
	}
	tmp, err := os.MkdirTemp("", "patchbay-verify-")
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	defer os.RemoveAll(tmp)
	trusted := filepath.Join(tmp, "metadata")
	if err := trust.Init(trusted, root); err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	c, err := trust.New(trust.Options{
		MetadataDir: trusted,
		Remote:      &trust.DirRemote{MetadataDir: mdDir, TargetsDir: tgDir},
		Now:         func() time.Time { return opts.Now },
		Logger:      opts.Logger,
	})
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	fail := func(err error) (Report, error) {
		rep.Problems = append(rep.Problems, err.Error())
		return rep, fmt.Errorf("%w: %s", ErrVerifyFailed, err)
	}
	s, err := c.Refresh(ctx)
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	targets, err := s.Targets(ctx)
	if err != nil {
		return fail(err)
	}
	rep.Roles = map[string]RoleState{}
	versions, expires := s.Versions(), s.Expires()
	for _, role := range slices.Sorted(maps.Keys(versions)) {
		rep.Roles[role] = RoleState{Version: versions[role], Expires: expires[role]}
		warn := opts.Warn
		if role == metadata.TIMESTAMP || role == metadata.SNAPSHOT {
			warn = time.Hour // short-lived by design; re-signed by cron
		}
		if left := expires[role].Sub(opts.Now); left < warn {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s version %d expires in %s (%s)", role, versions[role], left.Round(time.Minute), expires[role].Format(time.RFC3339)))
		}
	}
	rep.Targets = len(targets)
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := c.Download(ctx, t, io.Discard); err != nil {
			rep.Problems = append(rep.Problems, err.Error())
			continue
		}
		if t.MetaErr != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("target %s: %v: devices will not select it", t.Name, t.MetaErr))
		}
		// Other clients may fetch the file under any of its hashes.
		if t.RemotePath() != t.Name {
			dir, base := path.Split(t.Name)
			for _, alg := range slices.Sorted(maps.Keys(t.Hashes)) {
				name := filepath.Join(tgDir, filepath.FromSlash(dir), hex.EncodeToString(t.Hashes[alg])+"."+base)
				if st, err := os.Stat(name); err != nil || st.Size() != t.Length {
					rep.Problems = append(rep.Problems, fmt.Sprintf("target %s: no file of %d bytes under its %s name %s", t.Name, t.Length, alg, name))
				}
			}
		}
	}
	if len(rep.Problems) > 0 {
		return rep, fmt.Errorf("%w: %d problems", ErrVerifyFailed, len(rep.Problems))
	}
	return rep, nil
}

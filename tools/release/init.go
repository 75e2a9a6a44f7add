package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// InitOptions shape a new repository.
type InitOptions struct {
	KeyType KeyType // for every generated key; default ed25519
	// Thresholds of the top-level roles; 1 where not given.
	Thresholds map[string]int
	// Keys is how many keys to generate per top-level role; the
	// threshold where not given (and never fewer).
	Keys map[string]int
	// Expiry periods by role; DefaultExpiry where not given.
	Expiry map[string]time.Duration
	// DisableConsistentSnapshot publishes metadata and targets under their
	// plain names, overwritten by each publish. Consistent snapshots (the
	// default) let a CDN cache every file forever.
	DisableConsistentSnapshot bool
}

// ErrExists means init was asked to create a repository where one is.
var ErrExists = errors.New("a repository already exists here")

// Init creates a repository in l.Repo: settings, a key set per top-level
// role (root keys in l.RootKeys), root version 1 and an empty targets
// role, signed into staged/. Publish makes them visible.
func Init(ctx context.Context, l Layout, in InitOptions, opts Options) (*Repo, error) {
	if _, err := os.Stat(l.settingsFile()); err == nil {
		return nil, fmt.Errorf("%s: %w", l.Repo, ErrExists)
	}
	r, err := newRepo(l, opts)
	if err != nil {
		return nil, err
	}
	r.settings.Expiry = map[string]Duration{}
	for role, d := range DefaultExpiry() {
		r.settings.Expiry[role] = Duration(d)
	}
	for role, d := range in.Expiry {
		if d <= 0 {
			return nil, fmt.Errorf("expiry of %s: %s is not positive", role, d)
		}
		r.settings.Expiry[role] = Duration(d)
	}
	for role := range in.Thresholds {
		if !isTopLevel(role) {
			return nil, fmt.Errorf("threshold for %q: not a top-level role (root, targets, snapshot, timestamp)", role)
		}
	}
	for _, dir := range []string{l.staged(), l.publicMetadata(), l.publicTargets()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}

	root := metadata.Root(r.expires(metadata.ROOT))
	root.Signed.ConsistentSnapshot = !in.DisableConsistentSnapshot
	for _, role := range metadata.TOP_LEVEL_ROLE_NAMES {
		threshold := max(in.Thresholds[role], 1)
		n := max(in.Keys[role], threshold)
		dir := l.keys()
		if role == metadata.ROOT {
			dir = l.rootKeys()
		}
		for range n {
			k, err := generateKey(dir, role, in.KeyType)
			if err != nil {
				return nil, err
			}
			if err := r.keys.add(k); err != nil {
				return nil, err
			}
			pub, err := tufKey(k)
			if err != nil {
				return nil, err
			}
			if err := root.Signed.AddKey(pub, role); err != nil {
				return nil, fmt.Errorf("add %s key: %w", role, err)
			}
		}
		root.Signed.Roles[role].Threshold = threshold
	}
	if err := r.writeRoot(ctx, root, nil); err != nil {
		return nil, err
	}
	r.targets[metadata.TARGETS] = metadata.Targets(r.expires(metadata.TARGETS))
	r.dirty[metadata.TARGETS] = true
	if err := r.Save(ctx); err != nil {
		return nil, err
	}
	settings, err := json.MarshalIndent(r.settings, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(l.settingsFile(), append(settings, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("write settings: %w", err)
	}
	r.log.Info("repository created", "repo", l.Repo, "consistent_snapshot", root.Signed.ConsistentSnapshot)
	return r, nil
}

// writeRoot signs a root version with its own keys and, when prev is not
// nil, with the keys of the version before it, checks that both
// thresholds are met as a client will, and stages it as N.root.json.
func (r *Repo) writeRoot(ctx context.Context, root, prev *metadata.Metadata[metadata.RootType]) error {
	ids := root.Signed.Roles[metadata.ROOT].KeyIDs
	if prev != nil {
		for _, id := range prev.Signed.Roles[metadata.ROOT].KeyIDs {
			if !slices.Contains(ids, id) {
				ids = append(append([]string(nil), ids...), id)
			}
		}
	}
	if err := sign(ctx, r.keys, "root", root, ids, 0); err != nil {
		return err
	}
	if prev != nil {
		if err := prev.VerifyDelegate(metadata.ROOT, root); err != nil {
			return fmt.Errorf("root version %d is not signed by a threshold of version %d's keys (root keys directory %s): %w", root.Signed.Version, prev.Signed.Version, r.layout.rootKeys(), err)
		}
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		return fmt.Errorf("root version %d is not signed by a threshold of its own keys (root keys directory %s): %w", root.Signed.Version, r.layout.rootKeys(), err)
	}
	data, err := root.ToBytes(true)
	if err != nil {
		return fmt.Errorf("encode root: %w", err)
	}
	if err := writeFileAtomic(r.stagedFile(rootFile(root.Signed.Version)), data, 0o644); err != nil {
		return fmt.Errorf("stage root: %w", err)
	}
	r.root = root
	r.log.Info("root signed", "version", root.Signed.Version)
	return nil
}

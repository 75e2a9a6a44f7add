package trust

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"patchbay.dev/firmware/atomicfile"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// Session is trusted metadata loaded for one look at the repository: made
// by Refresh (from the remote) or Cached (from disk only). Lookups of
// delegated roles may fetch more metadata, which is verified and persisted
// like the rest. Close it when done.
type Session struct {
	c       *Client
	u       *updater.Updater
	fetch   *tufFetcher
	staging string
	cached  bool
}

// Refresh updates the top-level metadata as the TUF client workflow says
// (root chain, timestamp, snapshot, targets; specification 5.3–5.6) and
// returns a Session over it. Whatever go-tuf verified is persisted even if
// a later step fails; the error then names the last file fetched.
func (c *Client) Refresh(ctx context.Context) (*Session, error) {
	s, err := c.open(false)
	if err != nil {
		return nil, err
	}
	if err := s.run(ctx, s.u.Refresh); err != nil {
		s.Close()
		if s.fetch.last != "" {
			return nil, fmt.Errorf("refresh trusted metadata (last fetched %s): %w", s.fetch.last, err)
		}
		return nil, fmt.Errorf("refresh trusted metadata: %w", err)
	}
	s.logVersions("metadata refreshed")
	return s, nil
}

// Cached returns a Session over the metadata already trusted on disk,
// without network I/O. It still checks signatures and expiry against the
// reference time.
func (c *Client) Cached(ctx context.Context) (*Session, error) {
	s, err := c.open(true)
	if err != nil {
		return nil, err
	}
	if err := s.run(ctx, s.u.Refresh); err != nil {
		s.Close()
		return nil, fmt.Errorf("load trusted metadata: %w", err)
	}
	return s, nil
}

func (c *Client) open(cached bool) (*Session, error) {
	root, err := os.ReadFile(filepath.Join(c.dir, "root.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", c.dir, ErrNotInitialized)
		}
		return nil, fmt.Errorf("read trusted root: %w", err)
	}
	staging, err := c.stage()
	if err != nil {
		return nil, err
	}
	s := &Session{c: c, staging: staging, cached: cached, fetch: &tufFetcher{remote: c.remote, log: c.log}}
	if cached {
		s.fetch.remote = nil // go-tuf would fetch delegated roles it lacks
	}
	cfg, err := config.New(metadataPrefix, root)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("configure TUF updater: %w", err)
	}
	cfg.Fetcher = s.fetch
	cfg.LocalMetadataDir = staging
	cfg.LocalTargetsDir = staging // unused: targets are streamed by Download
	cfg.RemoteTargetsURL = ""
	cfg.RootMaxLength = c.limits.Root
	cfg.TimestampMaxLength = c.limits.Timestamp
	cfg.SnapshotMaxLength = c.limits.Snapshot
	cfg.TargetsMaxLength = c.limits.Targets
	cfg.MaxRootRotations = c.limits.MaxRootRotations
	cfg.MaxDelegations = c.limits.MaxDelegations
	cfg.PrefixTargetsWithHash = true
	cfg.UnsafeLocalMode = cached
	u, err := updater.New(cfg)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("load trusted root: %w", err)
	}
	u.UnsafeSetRefTime(c.now().UTC())
	s.u = u
	return s, nil
}

// stage makes a working copy of the trusted metadata for go-tuf to read
// and write: beside the metadata directory when possible (same file
// system), else in the temporary directory.
func (c *Client) stage() (string, error) {
	dir, err := os.MkdirTemp(filepath.Dir(filepath.Clean(c.dir)), "."+filepath.Base(c.dir)+".staging-")
	if err != nil {
		if dir, err = os.MkdirTemp("", "patchbay-tuf-staging-"); err != nil {
			return "", fmt.Errorf("create staging directory: %w", err)
		}
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("read metadata directory: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		src, dst := filepath.Join(c.dir, e.Name()), filepath.Join(dir, e.Name())
		// go-tuf replaces files by rename, never in place, so a hard
		// link cannot change the trusted copy.
		if os.Link(src, dst) == nil {
			continue
		}
		data, err := os.ReadFile(src)
		if err == nil {
			err = os.WriteFile(dst, data, 0o644)
		}
		if err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("stage %s: %w", e.Name(), err)
		}
	}
	return dir, nil
}

// run calls fn with ctx made available to the fetcher, then moves every
// file go-tuf persisted into the metadata directory, whether fn failed or
// not: what go-tuf persisted has been verified.
func (s *Session) run(ctx context.Context, fn func() error) error {
	s.fetch.ctx = ctx
	err := fn()
	s.fetch.ctx = nil
	if cerr := s.commit(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}

// commitOrder puts root first, so that a power cut between files never
// leaves a timestamp signed by keys the trusted root does not know yet.
var commitOrder = map[string]int{"root.json": 0, "timestamp.json": 1, "snapshot.json": 2, "targets.json": 3}

func (s *Session) commit() error {
	entries, err := os.ReadDir(s.staging)
	if err != nil {
		return fmt.Errorf("read staging directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasSuffix(n, ".json") && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		ra, oka := commitOrder[a]
		rb, okb := commitOrder[b]
		if !oka {
			ra = 4
		}
		if !okb {
			rb = 4
		}
		if ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	for _, n := range names {
		staged, err := os.ReadFile(filepath.Join(s.staging, n))
		if err != nil {
			return fmt.Errorf("read staged %s: %w", n, err)
		}
		old, err := os.ReadFile(filepath.Join(s.c.dir, n))
		if err == nil && bytes.Equal(old, staged) {
			continue
		}
		if err := atomicfile.WriteFile(filepath.Join(s.c.dir, n), staged, 0o644); err != nil {
			return fmt.Errorf("persist trusted %s: %w", n, err)
		}
		s.c.log.Debug("trusted metadata persisted", "file", n)
	}
	return nil
}

// Close removes the staging copy.
func (s *Session) Close() error {
	if s.staging == "" {
		return nil
	}
	err := os.RemoveAll(s.staging)
	s.staging = ""
	return err
}

func (s *Session) trusted() trustedmetadata.TrustedMetadata { return s.u.GetTrustedMetadataSet() }

// Versions returns the version of every trusted role, by role name.
func (s *Session) Versions() map[string]int64 {
	t := s.trusted()
	v := map[string]int64{metadata.ROOT: t.Root.Signed.Version}
	if t.Timestamp != nil {
		v[metadata.TIMESTAMP] = t.Timestamp.Signed.Version
	}
	if t.Snapshot != nil {
		v[metadata.SNAPSHOT] = t.Snapshot.Signed.Version
	}
	for name, md := range t.Targets {
		v[name] = md.Signed.Version
	}
	return v
}

// Expires returns when each trusted role's metadata expires, by role name.
func (s *Session) Expires() map[string]time.Time {
	t := s.trusted()
	e := map[string]time.Time{metadata.ROOT: t.Root.Signed.Expires}
	if t.Timestamp != nil {
		e[metadata.TIMESTAMP] = t.Timestamp.Signed.Expires
	}
	if t.Snapshot != nil {
		e[metadata.SNAPSHOT] = t.Snapshot.Signed.Expires
	}
	for name, md := range t.Targets {
		e[name] = md.Signed.Expires
	}
	return e
}

func (s *Session) logVersions(msg string) {
	v := s.Versions()
	s.c.log.Info(msg, "root", v[metadata.ROOT], "timestamp", v[metadata.TIMESTAMP], "snapshot", v[metadata.SNAPSHOT], "targets", v[metadata.TARGETS])
}

func (s *Session) consistent() bool { return s.trusted().Root.Signed.ConsistentSnapshot }

// Target looks a target up by name the way the specification says
// (5.7: pre-order depth-first through the delegations trusted for that
// path), fetching delegated metadata as needed.
func (s *Session) Target(ctx context.Context, name string) (Target, error) {
	var tf *metadata.TargetFiles
	err := s.run(ctx, func() error {
		var err error
		tf, err = s.u.GetTargetInfo(name)
		return err
	})
	if err != nil {
		if isNotFound(err, name) {
			return Target{}, fmt.Errorf("%s: %w", name, ErrTargetNotFound)
		}
		return Target{}, fmt.Errorf("look up target %s: %w", name, err)
	}
	return newTarget(tf, s.consistent()), nil
}

// isNotFound recognises go-tuf's "target … not found" from GetTargetInfo,
// which go-tuf returns as an untyped error. TestTargetNotFound pins the
// text, so an upgrade of go-tuf that changes it fails the tests.
func isNotFound(err error, name string) bool {
	return err.Error() == "target "+name+" not found"
}

// Targets lists every target a device can trust: the top-level targets
// role's and those of delegated roles for paths they are trusted for,
// each as Target would resolve it. A delegated role that fails
// verification fails the listing. Hash-bin (succinct) delegations are
// not walked; look their targets up by name.
func (s *Session) Targets(ctx context.Context) ([]Target, error) {
	view := s.trusted()
	top := view.Targets[metadata.TARGETS]
	if top == nil {
		return nil, errors.New("list targets: trusted targets metadata not loaded")
	}
	view.Targets = maps.Clone(view.Targets) // discovery must not touch the updater's set
	consistent := view.Root.Signed.ConsistentSnapshot

	byName := make(map[string]Target, len(top.Signed.Targets))
	for name, tf := range top.Signed.Targets {
		byName[name] = newTarget(tf, consistent)
	}
	candidates := map[string]bool{}
	type edge struct{ role, parent string }
	var queue []edge
	enqueue := func(parent string) {
		d := view.Targets[parent].Signed.Delegations
		if d == nil {
			return
		}
		if d.SuccinctRoles != nil {
			s.c.log.Warn("hash-bin delegations are not listed", "role", parent)
		}
		for _, r := range d.Roles {
			queue = append(queue, edge{r.Name, parent})
		}
	}
	enqueue(metadata.TARGETS)
	visited := map[string]bool{metadata.TARGETS: true}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		if visited[e.role] {
			continue
		}
		if len(visited) > s.c.limits.MaxDelegations {
			return nil, fmt.Errorf("list targets: more than %d delegated roles", s.c.limits.MaxDelegations)
		}
		visited[e.role] = true
		md, err := s.loadDelegated(ctx, &view, e.role, e.parent)
		if err != nil {
			return nil, err
		}
		var role *metadata.DelegatedRole
		for i, r := range view.Targets[e.parent].Signed.Delegations.Roles {
			if r.Name == e.role {
				role = &view.Targets[e.parent].Signed.Delegations.Roles[i]
			}
		}
		for name := range md.Signed.Targets {
			if role == nil {
				break
			}
			if ok, _ := role.IsDelegatedPath(name); ok {
				candidates[name] = true
			}
		}
		enqueue(e.role)
	}
	// A name found in a delegated role is trusted only as the
	// specification's walk resolves it.
	for _, name := range slices.Sorted(maps.Keys(candidates)) {
		if _, ok := byName[name]; ok {
			continue
		}
		t, err := s.Target(ctx, name)
		if errors.Is(err, ErrTargetNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		byName[name] = t
	}
	out := make([]Target, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[name])
	}
	return out, nil
}

// loadDelegated verifies a delegated role (go-tuf's trustedmetadata)
// from the staged copy if it is current, else from the remote, and stages
// it for the updater and for the metadata directory.
func (s *Session) loadDelegated(ctx context.Context, view *trustedmetadata.TrustedMetadata, role, parent string) (*metadata.Metadata[metadata.TargetsType], error) {
	file := url.PathEscape(role) + ".json"
	if data, err := os.ReadFile(filepath.Join(s.staging, file)); err == nil {
		if md, err := view.UpdateDelegatedTargets(data, role, parent); err == nil {
			return md, nil
		}
	}
	if s.cached {
		return nil, fmt.Errorf("delegated role %s: no valid trusted copy and no network in cached mode", role)
	}
	info, ok := view.Snapshot.Signed.Meta[role+".json"]
	if !ok {
		return nil, fmt.Errorf("delegated role %s: not in the trusted snapshot", role)
	}
	name, limit := file, info.Length
	if view.Root.Signed.ConsistentSnapshot {
		name = strconv.FormatInt(info.Version, 10) + "." + file
	}
	if limit == 0 {
		limit = s.c.limits.Targets
	}
	s.fetch.ctx = ctx
	data, err := s.fetch.fetch(name, limit)
	s.fetch.ctx = nil
	if err != nil {
		return nil, fmt.Errorf("delegated role %s: %w", role, err)
	}
	md, err := view.UpdateDelegatedTargets(data, role, parent)
	if err != nil {
		return nil, fmt.Errorf("delegated role %s: %w", role, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(s.staging, file), data, 0o644); err != nil {
		return nil, fmt.Errorf("stage delegated role %s: %w", role, err)
	}
	if err := s.commit(); err != nil {
		return nil, err
	}
	return md, nil
}

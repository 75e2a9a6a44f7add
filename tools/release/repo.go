package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"patchbay.dev/firmware/atomicfile"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Layout names the directories of a repository (see the package doc).
type Layout struct {
	Repo     string // working state: settings, staged metadata, public files
	Keys     string // online and targets keys; "" means Repo/keys
	RootKeys string // root keys; "" means Keys
}

func (l Layout) keys() string {
	if l.Keys == "" {
		return filepath.Join(l.Repo, "keys")
	}
	return l.Keys
}

func (l Layout) rootKeys() string {
	if l.RootKeys == "" {
		return l.keys()
	}
	return l.RootKeys
}

func (l Layout) settingsFile() string { return filepath.Join(l.Repo, "patchbay-release.json") }
func (l Layout) staged() string       { return filepath.Join(l.Repo, "staged") }

// Public is the directory publish writes for the web server.
func (l Layout) Public() string         { return filepath.Join(l.Repo, "public") }
func (l Layout) publicMetadata() string { return filepath.Join(l.Public(), "metadata") }
func (l Layout) publicTargets() string  { return filepath.Join(l.Public(), "targets") }

// Duration is a time.Duration written as a string ("2160h") in settings.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("duration %q must be positive", b)
	}
	*d = Duration(v)
	return nil
}

// Settings are a repository's choices kept in patchbay-release.json.
type Settings struct {
	// Expiry is how long each role's metadata stays valid after signing,
	// by role name; delegated roles take "targets"'s unless listed.
	Expiry map[string]Duration `json:"expiry"`
}

// DefaultExpiry is the expiry period of each top-level role unless Init is
// told otherwise: a year for the offline root, a quarter for targets, a
// week for snapshot and a day for the timestamp that cron re-signs.
func DefaultExpiry() map[string]time.Duration {
	return map[string]time.Duration{
		metadata.ROOT:      365 * 24 * time.Hour,
		metadata.TARGETS:   90 * 24 * time.Hour,
		metadata.SNAPSHOT:  7 * 24 * time.Hour,
		metadata.TIMESTAMP: 24 * time.Hour,
	}
}

func (s Settings) expiry(role string) time.Duration {
	if d, ok := s.Expiry[role]; ok {
		return time.Duration(d)
	}
	if d, ok := s.Expiry[metadata.TARGETS]; ok && !isTopLevel(role) {
		return time.Duration(d)
	}
	if d, ok := DefaultExpiry()[role]; ok {
		return d
	}
	return DefaultExpiry()[metadata.TARGETS]
}

func isTopLevel(role string) bool {
	return slices.Contains(metadata.TOP_LEVEL_ROLE_NAMES[:], role)
}

// ErrNoRepository means the directory holds no repository (run init).
var ErrNoRepository = errors.New("no repository here (run init first)")

// Options are what Open and Init take besides the layout.
type Options struct {
	// Signers are keys held elsewhere (HSM, KMS), used before key files.
	Signers []Signer
	Now     func() time.Time // nil means time.Now
	Logger  *slog.Logger     // nil discards
}

// Repo is a repository's working state in memory.
type Repo struct {
	layout    Layout
	settings  Settings
	root      *metadata.Metadata[metadata.RootType]
	targets   map[string]*metadata.Metadata[metadata.TargetsType] // "targets" and delegated roles
	parent    map[string]string                                   // delegated role → the role delegating to it
	snapshot  *metadata.Metadata[metadata.SnapshotType]           // nil before the first publish
	timestamp *metadata.Metadata[metadata.TimestampType]
	dirty     map[string]bool // targets roles changed since they were last signed
	keys      *keyring
	now       func() time.Time
	log       *slog.Logger
}

func newRepo(l Layout, opts Options) (*Repo, error) {
	kr, err := newKeyring(opts.Signers, l.rootKeys(), l.keys())
	if err != nil {
		return nil, err
	}
	r := &Repo{
		layout: l, keys: kr, now: opts.Now, log: opts.Logger,
		targets: map[string]*metadata.Metadata[metadata.TargetsType]{},
		parent:  map[string]string{}, dirty: map[string]bool{},
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// Open loads the repository in l.Repo.
func Open(l Layout, opts Options) (*Repo, error) {
	r, err := newRepo(l, opts)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(l.settingsFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", l.Repo, ErrNoRepository)
	}
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r.settings); err != nil {
		return nil, fmt.Errorf("%s: %w", l.settingsFile(), err)
	}
	versions, err := r.rootVersions()
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("%s: no N.root.json: %w", l.staged(), ErrNoRepository)
	}
	if r.root, err = readRole[metadata.RootType](r.stagedFile(rootFile(versions[len(versions)-1]))); err != nil {
		return nil, err
	}
	top, err := readRole[metadata.TargetsType](r.stagedFile("targets.json"))
	if err != nil {
		return nil, err
	}
	r.targets[metadata.TARGETS] = top
	for queue := []string{metadata.TARGETS}; len(queue) > 0; queue = queue[1:] {
		d := r.targets[queue[0]].Signed.Delegations
		if d == nil {
			continue
		}
		for _, role := range d.Roles {
			if _, ok := r.targets[role.Name]; ok {
				continue
			}
			md, err := readRole[metadata.TargetsType](r.stagedFile(role.Name + ".json"))
			if err != nil {
				return nil, err
			}
			r.targets[role.Name], r.parent[role.Name] = md, queue[0]
			queue = append(queue, role.Name)
		}
	}
	if r.snapshot, err = readRole[metadata.SnapshotType](r.stagedFile("snapshot.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if r.timestamp, err = readRole[metadata.TimestampType](r.stagedFile("timestamp.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return r, nil
}

func readRole[T metadata.Roles](path string) (*metadata.Metadata[T], error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	md, err := (&metadata.Metadata[T]{}).FromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return md, nil
}

func rootFile(v int64) string              { return strconv.FormatInt(v, 10) + ".root.json" }
func (r *Repo) stagedFile(n string) string { return filepath.Join(r.layout.staged(), n) }

// rootVersions lists the staged root versions in order.
func (r *Repo) rootVersions() ([]int64, error) {
	entries, err := os.ReadDir(r.layout.staged())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read staged metadata: %w", err)
	}
	var vs []int64
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".root.json")
		if v, err := strconv.ParseInt(n, 10, 64); ok && err == nil && v > 0 {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	return vs, nil
}

// Root returns the newest root's signed part (a copy is not made: do not
// change it).
func (r *Repo) Root() *metadata.RootType { return &r.root.Signed }

// Roles lists the targets roles: "targets", then delegated roles by name.
func (r *Repo) Roles() []string {
	roles := slices.Sorted(maps.Keys(r.targets))
	slices.SortStableFunc(roles, func(a, b string) int {
		switch {
		case a == metadata.TARGETS:
			return -1
		case b == metadata.TARGETS:
			return 1
		}
		return 0
	})
	return roles
}

// Save signs every targets role changed since it was last signed into
// staged/: its version goes one past the published one and its expiry
// restarts. Targets' keys must be at hand.
func (r *Repo) Save(ctx context.Context) error {
	for _, role := range slices.Sorted(maps.Keys(r.dirty)) {
		md := r.targets[role]
		if published := r.publishedVersion(role); md.Signed.Version <= published {
			md.Signed.Version = published + 1
		}
		md.Signed.Expires = r.expires(role)
		if err := r.signTargets(ctx, role, md); err != nil {
			return err
		}
		data, err := md.ToBytes(false)
		if err != nil {
			return fmt.Errorf("encode %s: %w", role, err)
		}
		if err := writeFileAtomic(r.stagedFile(role+".json"), data, 0o644); err != nil {
			return fmt.Errorf("stage %s: %w", role, err)
		}
		delete(r.dirty, role)
		r.log.Info("role signed", "role", role, "version", md.Signed.Version)
	}
	return nil
}

// publishedVersion is a targets role's version in the last published
// snapshot, 0 if never published.
func (r *Repo) publishedVersion(role string) int64 {
	if r.snapshot == nil {
		return 0
	}
	if m, ok := r.snapshot.Signed.Meta[role+".json"]; ok {
		return m.Version
	}
	return 0
}

func (r *Repo) expires(role string) time.Time {
	return r.now().UTC().Add(r.settings.expiry(role)).Truncate(time.Second)
}

// delegation returns the entry for a delegated role in its parent.
func (r *Repo) delegation(role string) (*metadata.DelegatedRole, *metadata.Delegations) {
	p, ok := r.parent[role]
	if !ok {
		return nil, nil
	}
	d := r.targets[p].Signed.Delegations
	for i := range d.Roles {
		if d.Roles[i].Name == role {
			return &d.Roles[i], d
		}
	}
	return nil, nil
}

// signTargets signs a targets role with the keys its delegator names.
func (r *Repo) signTargets(ctx context.Context, role string, md *metadata.Metadata[metadata.TargetsType]) error {
	var keyIDs []string
	var threshold int
	if role == metadata.TARGETS {
		keyIDs, threshold = r.root.Signed.Roles[role].KeyIDs, r.root.Signed.Roles[role].Threshold
	} else {
		d, _ := r.delegation(role)
		if d == nil {
			return fmt.Errorf("sign %s: no role delegates to it", role)
		}
		keyIDs, threshold = d.KeyIDs, d.Threshold
	}
	return sign(ctx, r.keys, role, md, keyIDs, threshold)
}

// sign replaces md's signatures with one by every available key of
// keyIDs, and fails unless that makes threshold.
func sign[T metadata.Roles](ctx context.Context, kr *keyring, role string, md *metadata.Metadata[T], keyIDs []string, threshold int) error {
	md.ClearSignatures()
	signed := 0
	for _, id := range keyIDs {
		s, ok, err := kr.get(id)
		if err != nil {
			return fmt.Errorf("sign %s: %w", role, err)
		}
		if !ok {
			continue
		}
		a := &sigstoreSigner{ctx: ctx, s: s}
		if _, err := md.Sign(a); err != nil {
			return fmt.Errorf("sign %s with key %.16s: %w", role, id, errors.Join(a.err, err))
		}
		signed++
	}
	if signed < threshold {
		return fmt.Errorf("sign %s: %d of its keys are at hand, its threshold is %d (key ids %s; look in the keys directories or pass the signers)", role, signed, threshold, shortIDs(keyIDs))
	}
	return nil
}

// Sign adds a signature by each signer to md, after the ones it has: for
// signing on another machine or with a threshold of people, and for tests
// that forge metadata.
func Sign[T metadata.Roles](ctx context.Context, md *metadata.Metadata[T], signers ...Signer) error {
	for _, s := range signers {
		a := &sigstoreSigner{ctx: ctx, s: s}
		if _, err := md.Sign(a); err != nil {
			return fmt.Errorf("sign: %w", errors.Join(a.err, err))
		}
	}
	return nil
}

func shortIDs(ids []string) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id[:min(16, len(id))]
	}
	return strings.Join(s, ", ")
}

var roleNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// writeFileAtomic replaces name with data, creating the directory if
// needed.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(name, data, perm)
}

package trust

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"patchbay.dev/firmware/atomicfile"
	"path/filepath"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Limits bound what the client reads. Zero fields take the defaults.
type Limits struct {
	Root      int64 // bytes of one root.json; default 512 KiB
	Timestamp int64 // bytes of timestamp.json; default 16 KiB
	// Snapshot and Targets apply when the signed metadata gives no length
	// for the file; default 2 MiB and 16 MiB (10,000 targets with
	// Patchbay metadata take about 6 MiB).
	Snapshot int64
	Targets  int64
	// MaxRootRotations bounds the root versions followed in one refresh;
	// default 256.
	MaxRootRotations int64
	// MaxDelegations bounds the delegated roles visited; default 32.
	MaxDelegations int
}

func (l Limits) withDefaults() Limits {
	set := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&l.Root, 512<<10)
	set(&l.Timestamp, 16<<10)
	set(&l.Snapshot, 2<<20)
	set(&l.Targets, 16<<20)
	set(&l.MaxRootRotations, 256)
	if l.MaxDelegations <= 0 {
		l.MaxDelegations = 32
	}
	return l
}

// Options configure a Client.
type Options struct {
	// MetadataDir holds the trusted metadata, one <role>.json per role.
	MetadataDir string
	// Remote is where metadata and targets come from; nil allows only
	// Cached sessions.
	Remote Remote
	Limits Limits
	// Now is the reference time for expiry; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger // nil discards
}

// Client keeps one device's trusted metadata for one repository.
type Client struct {
	dir    string
	remote Remote
	limits Limits
	now    func() time.Time
	log    *slog.Logger
}

// New checks the options and that the metadata directory has a trusted
// root (ErrNotInitialized otherwise). It does no network I/O.
func New(opts Options) (*Client, error) {
	if opts.MetadataDir == "" {
		return nil, errors.New("trust: MetadataDir is required")
	}
	if _, err := os.Stat(filepath.Join(opts.MetadataDir, "root.json")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", opts.MetadataDir, ErrNotInitialized)
		}
		return nil, fmt.Errorf("trusted root: %w", err)
	}
	c := &Client{dir: opts.MetadataDir, remote: opts.Remote, limits: opts.Limits.withDefaults(), now: opts.Now, log: opts.Logger}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Init makes root the trusted root of metadataDir (created if needed): the
// root shipped with a device or handed to the flash tool. It checks that
// root is root metadata signed by its own threshold of keys, and removes
// other roles' files left from an earlier trust. No network I/O.
func Init(metadataDir string, root []byte) error {
	md, err := (&metadata.Metadata[metadata.RootType]{}).FromBytes(root)
	if err != nil {
		return fmt.Errorf("trusted root: not root metadata: %w", err)
	}
	if err := md.VerifyDelegate(metadata.ROOT, md); err != nil {
		return fmt.Errorf("trusted root version %d: not signed by its own keys: %w", md.Signed.Version, err)
	}
	if err := os.MkdirAll(metadataDir, 0o755); err != nil {
		return fmt.Errorf("create metadata directory: %w", err)
	}
	entries, err := os.ReadDir(metadataDir)
	if err != nil {
		return fmt.Errorf("read metadata directory: %w", err)
	}
	for _, e := range entries {
		if name := e.Name(); e.Type().IsRegular() && strings.HasSuffix(name, ".json") && name != "root.json" {
			if err := os.Remove(filepath.Join(metadataDir, name)); err != nil {
				return fmt.Errorf("remove earlier trusted metadata: %w", err)
			}
		}
	}
	if err := atomicfile.WriteFile(filepath.Join(metadataDir, "root.json"), root, 0o644); err != nil {
		return fmt.Errorf("store trusted root: %w", err)
	}
	return nil
}

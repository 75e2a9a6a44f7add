package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Published says what a publish or timestamp run wrote.
type Published struct {
	Snapshot  int64    `json:"snapshot"`  // snapshot version now published
	Timestamp int64    `json:"timestamp"` // timestamp version now published
	Files     []string `json:"files"`     // metadata files written below public/metadata
}

// Publish makes the staged state visible: it signs changed targets roles
// (and renews those that would expire before the new snapshot), writes a
// new snapshot listing every targets role and a new timestamp for it,
// and puts every root version, role and snapshot into public/metadata.
// timestamp.json is replaced last, so a client sees the new state only
// once every file it points to is in place.
func (r *Repo) Publish(ctx context.Context) (Published, error) {
	now := r.now().UTC()
	snapExpires := r.expires(metadata.SNAPSHOT)
	for role, md := range r.targets {
		if md.Signed.Expires.Before(snapExpires) {
			r.dirty[role] = true // renew before it expires under devices
		}
	}
	if err := r.Save(ctx); err != nil {
		return Published{}, err
	}
	if r.root.Signed.Expires.Before(now) {
		return Published{}, fmt.Errorf("publish: root version %d expired on %s; sign a new root version (rotate root) first", r.root.Signed.Version, r.root.Signed.Expires.Format("2006-01-02"))
	}
	consistent := r.root.Signed.ConsistentSnapshot
	var out Published

	// Roots: every version, so that old devices can walk the chain.
	versions, err := r.rootVersions()
	if err != nil {
		return out, err
	}
	for _, v := range versions {
		name := rootFile(v)
		if _, err := os.Stat(filepath.Join(r.layout.publicMetadata(), name)); err == nil {
			continue
		}
		if err := r.copyStagedToPublic(name, name); err != nil {
			return out, err
		}
		out.Files = append(out.Files, name)
	}
	if err := r.copyStagedToPublic(rootFile(versions[len(versions)-1]), "root.json"); err != nil {
		return out, err
	}

	// Targets roles and the snapshot that pins them.
	snap := metadata.Snapshot(snapExpires)
	snap.Signed.Meta = map[string]*metadata.MetaFiles{}
	if r.snapshot != nil {
		snap.Signed.Version = r.snapshot.Signed.Version + 1
	}
	for _, role := range r.Roles() {
		md := r.targets[role]
		data, err := os.ReadFile(r.stagedFile(role + ".json"))
		if err != nil {
			return out, fmt.Errorf("publish %s: %w", role, err)
		}
		snap.Signed.Meta[role+".json"] = metaFile(md.Signed.Version, data)
		name := role + ".json"
		if consistent {
			name = strconv.FormatInt(md.Signed.Version, 10) + "." + name
		}
		wrote, err := r.writePublic(name, data)
		if err != nil {
			return out, fmt.Errorf("publish %s: %w", role, err)
		}
		if wrote {
			out.Files = append(out.Files, name)
		}
	}
	if err := sign(ctx, r.keys, metadata.SNAPSHOT, snap, r.root.Signed.Roles[metadata.SNAPSHOT].KeyIDs, r.root.Signed.Roles[metadata.SNAPSHOT].Threshold); err != nil {
		return out, err
	}
	snapData, err := snap.ToBytes(false)
	if err != nil {
		return out, fmt.Errorf("encode snapshot: %w", err)
	}
	snapName := "snapshot.json"
	if consistent {
		snapName = strconv.FormatInt(snap.Signed.Version, 10) + ".snapshot.json"
	}
	if err := writeFileAtomic(filepath.Join(r.layout.publicMetadata(), snapName), snapData, 0o644); err != nil {
		return out, fmt.Errorf("publish snapshot: %w", err)
	}
	out.Files = append(out.Files, snapName)
	if err := writeFileAtomic(r.stagedFile("snapshot.json"), snapData, 0o644); err != nil {
		return out, fmt.Errorf("stage snapshot: %w", err)
	}
	r.snapshot = snap

	ts, err := r.signTimestamp(ctx, snapData)
	if err != nil {
		return out, err
	}
	out.Files = append(out.Files, "timestamp.json")
	out.Snapshot, out.Timestamp = snap.Signed.Version, ts.Signed.Version
	r.log.Info("repository published", "snapshot", out.Snapshot, "timestamp", out.Timestamp, "files", len(out.Files))
	return out, nil
}

// Timestamp signs a new timestamp for the published snapshot, with a
// fresh expiry, and publishes it: the cron job of an online timestamp
// key. Only the timestamp keys are needed.
func (r *Repo) Timestamp(ctx context.Context) (Published, error) {
	if r.snapshot == nil {
		return Published{}, errors.New("timestamp: nothing published yet (run publish)")
	}
	snapData, err := os.ReadFile(r.stagedFile("snapshot.json"))
	if err != nil {
		return Published{}, fmt.Errorf("timestamp: %w", err)
	}
	ts, err := r.signTimestamp(ctx, snapData)
	if err != nil {
		return Published{}, err
	}
	r.log.Info("timestamp published", "timestamp", ts.Signed.Version, "snapshot", r.snapshot.Signed.Version)
	return Published{Snapshot: r.snapshot.Signed.Version, Timestamp: ts.Signed.Version, Files: []string{"timestamp.json"}}, nil
}

func (r *Repo) signTimestamp(ctx context.Context, snapData []byte) (*metadata.Metadata[metadata.TimestampType], error) {
	ts := metadata.Timestamp(r.expires(metadata.TIMESTAMP))
	if r.timestamp != nil {
		ts.Signed.Version = r.timestamp.Signed.Version + 1
	}
	ts.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": metaFile(r.snapshot.Signed.Version, snapData)}
	role := r.root.Signed.Roles[metadata.TIMESTAMP]
	if err := sign(ctx, r.keys, metadata.TIMESTAMP, ts, role.KeyIDs, role.Threshold); err != nil {
		return nil, err
	}
	data, err := ts.ToBytes(false)
	if err != nil {
		return nil, fmt.Errorf("encode timestamp: %w", err)
	}
	if err := writeFileAtomic(r.stagedFile("timestamp.json"), data, 0o644); err != nil {
		return nil, fmt.Errorf("stage timestamp: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(r.layout.publicMetadata(), "timestamp.json"), data, 0o644); err != nil {
		return nil, fmt.Errorf("publish timestamp: %w", err)
	}
	r.timestamp = ts
	return ts, nil
}

// metaFile describes a metadata file by version, length and SHA-256, so
// that a client fetches exactly that many bytes and checks them.
func metaFile(version int64, data []byte) *metadata.MetaFiles {
	sum := sha256.Sum256(data)
	return &metadata.MetaFiles{Version: version, Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": sum[:]}}
}

func (r *Repo) copyStagedToPublic(staged, public string) error {
	data, err := os.ReadFile(r.stagedFile(staged))
	if err != nil {
		return fmt.Errorf("publish %s: %w", staged, err)
	}
	if _, err := r.writePublic(public, data); err != nil {
		return fmt.Errorf("publish %s: %w", public, err)
	}
	return nil
}

// writePublic puts data into public/metadata unless the file already
// holds exactly that.
func (r *Repo) writePublic(name string, data []byte) (bool, error) {
	dst := filepath.Join(r.layout.publicMetadata(), name)
	old, err := os.ReadFile(dst)
	switch {
	case err == nil && bytes.Equal(old, data):
		return false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	return true, writeFileAtomic(dst, data, 0o644)
}

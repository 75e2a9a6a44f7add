package release

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Rotation replaces every key of one role with new ones.
type Rotation struct {
	Role      string
	Threshold int     // new threshold; 0 keeps the current one
	Keys      int     // keys to generate; default the threshold
	KeyType   KeyType // default ed25519
}

// Rotated says what a rotation did.
type Rotated struct {
	Role        string   `json:"role"`
	KeyIDs      []string `json:"key_ids"`      // the role's new keys
	Retired     []string `json:"retired"`      // key files moved to retired/
	RootVersion int64    `json:"root_version"` // newest root version
}

// Rotate replaces a role's keys. For a top-level role that is a new root
// version, signed by a threshold of the old root keys and of the new
// ones, so devices walk from one to the next (N.root.json) and refuse the
// old keys afterwards. For a delegated role it is a change to the role
// delegating to it. The role itself is signed again with the new keys by
// Save (targets roles) or Publish (snapshot, timestamp): run Publish to
// make the rotation visible. Old key files move to a retired/ directory
// beside them.
func (r *Repo) Rotate(ctx context.Context, rot Rotation) (Rotated, error) {
	if isTopLevel(rot.Role) {
		return r.rotateTopLevel(ctx, rot)
	}
	return r.rotateDelegated(rot)
}

func (r *Repo) rotateTopLevel(ctx context.Context, rot Rotation) (Rotated, error) {
	prev := r.root
	data, err := prev.ToBytes(false)
	if err != nil {
		return Rotated{}, err
	}
	next, err := (&metadata.Metadata[metadata.RootType]{}).FromBytes(data)
	if err != nil {
		return Rotated{}, err
	}
	next.Signed.Version++
	next.Signed.Expires = r.expires(metadata.ROOT)
	role := next.Signed.Roles[rot.Role]
	old := slices.Clone(role.KeyIDs)
	for _, id := range old {
		if err := next.Signed.RevokeKey(id, rot.Role); err != nil {
			return Rotated{}, fmt.Errorf("rotate %s: %w", rot.Role, err)
		}
	}
	threshold := role.Threshold
	if rot.Threshold > 0 {
		threshold = rot.Threshold
	}
	dir := r.layout.keys()
	if rot.Role == metadata.ROOT {
		dir = r.layout.rootKeys()
	}
	for range max(rot.Keys, threshold) {
		k, err := generateKey(dir, rot.Role, rot.KeyType)
		if err != nil {
			return Rotated{}, err
		}
		if err := r.keys.add(k); err != nil {
			return Rotated{}, err
		}
		pub, err := tufKey(k)
		if err != nil {
			return Rotated{}, err
		}
		if err := next.Signed.AddKey(pub, rot.Role); err != nil {
			return Rotated{}, fmt.Errorf("rotate %s: %w", rot.Role, err)
		}
	}
	next.Signed.Roles[rot.Role].Threshold = threshold
	if err := r.writeRoot(ctx, next, prev); err != nil {
		return Rotated{}, fmt.Errorf("rotate %s: %w", rot.Role, err)
	}
	if rot.Role == metadata.TARGETS {
		r.dirty[metadata.TARGETS] = true
	}
	out := Rotated{Role: rot.Role, KeyIDs: slices.Clone(next.Signed.Roles[rot.Role].KeyIDs), RootVersion: next.Signed.Version}
	for _, id := range old {
		if _, still := next.Signed.Keys[id]; !still {
			if f := r.retire(id); f != "" {
				out.Retired = append(out.Retired, f)
			}
		}
	}
	r.log.Info("role keys rotated", "role", rot.Role, "root_version", next.Signed.Version)
	return out, nil
}

func (r *Repo) rotateDelegated(rot Rotation) (Rotated, error) {
	d, _ := r.delegation(rot.Role)
	if d == nil {
		return Rotated{}, fmt.Errorf("rotate %q: no such role (roles: root, timestamp, snapshot, targets and delegated %v)", rot.Role, r.Roles()[1:])
	}
	parent := r.targets[r.parent[rot.Role]]
	old := slices.Clone(d.KeyIDs)
	for _, id := range old {
		if err := parent.Signed.RevokeKey(id, rot.Role); err != nil {
			return Rotated{}, fmt.Errorf("rotate %s: %w", rot.Role, err)
		}
	}
	if rot.Threshold > 0 {
		d.Threshold = rot.Threshold
	}
	for range max(rot.Keys, d.Threshold) {
		k, err := generateKey(r.layout.keys(), rot.Role, rot.KeyType)
		if err != nil {
			return Rotated{}, err
		}
		if err := r.keys.add(k); err != nil {
			return Rotated{}, err
		}
		pub, err := tufKey(k)
		if err != nil {
			return Rotated{}, err
		}
		if err := parent.Signed.AddKey(pub, rot.Role); err != nil {
			return Rotated{}, fmt.Errorf("rotate %s: %w", rot.Role, err)
		}
	}
	r.dirty[rot.Role], r.dirty[r.parent[rot.Role]] = true, true
	d, _ = r.delegation(rot.Role)
	out := Rotated{Role: rot.Role, KeyIDs: slices.Clone(d.KeyIDs), RootVersion: r.root.Signed.Version}
	for _, id := range old {
		if _, still := parent.Signed.Delegations.Keys[id]; !still {
			if f := r.retire(id); f != "" {
				out.Retired = append(out.Retired, f)
			}
		}
	}
	r.log.Info("role keys rotated", "role", rot.Role, "parent", r.parent[rot.Role])
	return out, nil
}

// retire moves the key file of keyID into retired/ beside it and forgets
// the key. It returns the new path, or "" when the key is not a file
// here.
func (r *Repo) retire(keyID string) string {
	s, ok, err := r.keys.get(keyID)
	if err != nil || !ok {
		return ""
	}
	delete(r.keys.signers, keyID)
	fk, ok := s.(*FileKey)
	if !ok || fk.Path == "" {
		return ""
	}
	dir := filepath.Join(filepath.Dir(fk.Path), "retired")
	dst := filepath.Join(dir, filepath.Base(fk.Path))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		r.log.Warn("old key not retired", "key_file", fk.Path, "err", err)
		return ""
	}
	if err := os.Rename(fk.Path, dst); err != nil {
		r.log.Warn("old key not retired", "key_file", fk.Path, "err", err)
		return ""
	}
	return dst
}

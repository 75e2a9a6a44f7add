package release

import (
	"context"
	"fmt"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Delegation describes a delegated targets role: a vendor or board family
// signing its own images with its own keys, for target paths matching its
// patterns only.
type Delegation struct {
	Role string // name, e.g. "openwrt-ath79"
	// Parent is the role delegating; "" is "targets".
	Parent string
	// Paths are shell-style patterns per path segment
	// ("openwrt/ath79/*"), as the TUF specification defines them.
	Paths     []string
	Threshold int     // default 1
	Keys      int     // keys to generate; default the threshold
	KeyType   KeyType // default ed25519
	// Terminating stops devices from looking further for a path this
	// role is trusted for but does not list.
	Terminating bool
}

// Delegate adds a delegated role with new keys (in the keys directory)
// and an empty targets list. The parent role changes and is signed again
// by Save or Publish.
func (r *Repo) Delegate(ctx context.Context, d Delegation) error {
	if !roleNamePattern.MatchString(d.Role) || isTopLevel(d.Role) {
		return fmt.Errorf("delegate %q: want a name of lower-case letters, digits, '.', '_', '-' other than root, targets, snapshot and timestamp", d.Role)
	}
	if _, ok := r.targets[d.Role]; ok {
		return fmt.Errorf("delegate %s: the role exists already (rotate changes its keys)", d.Role)
	}
	parent := d.Parent
	if parent == "" {
		parent = metadata.TARGETS
	}
	pmd, ok := r.targets[parent]
	if !ok {
		return fmt.Errorf("delegate %s: no parent role %q", d.Role, parent)
	}
	if len(d.Paths) == 0 {
		return fmt.Errorf("delegate %s: at least one path pattern is required", d.Role)
	}
	for _, p := range d.Paths {
		if p == "" || strings.HasPrefix(p, "/") {
			return fmt.Errorf("delegate %s: path pattern %q: want a relative pattern such as vendor/board/*", d.Role, p)
		}
	}
	threshold := max(d.Threshold, 1)
	if pmd.Signed.Delegations == nil {
		pmd.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	}
	pmd.Signed.Delegations.Roles = append(pmd.Signed.Delegations.Roles, metadata.DelegatedRole{
		Name: d.Role, Threshold: threshold, Terminating: d.Terminating, Paths: d.Paths, KeyIDs: []string{},
	})
	for range max(d.Keys, threshold) {
		k, err := generateKey(r.layout.keys(), d.Role, d.KeyType)
		if err != nil {
			return err
		}
		if err := r.keys.add(k); err != nil {
			return err
		}
		pub, err := tufKey(k)
		if err != nil {
			return err
		}
		if err := pmd.Signed.AddKey(pub, d.Role); err != nil {
			return fmt.Errorf("delegate %s: %w", d.Role, err)
		}
	}
	r.targets[d.Role] = metadata.Targets(r.expires(d.Role))
	r.parent[d.Role] = parent
	r.dirty[d.Role], r.dirty[parent] = true, true
	r.log.Info("role delegated", "role", d.Role, "parent", parent, "paths", strings.Join(d.Paths, ","), "threshold", threshold)
	return nil
}

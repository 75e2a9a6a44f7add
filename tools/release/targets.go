package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"patchbay.dev/firmware/meta"
)

// ErrOutsidePaths means a target name is not among the paths a delegated
// role is trusted for; devices would never accept it from that role.
var ErrOutsidePaths = errors.New("target path outside the role's delegated paths")

// Image is a file to add as a target.
type Image struct {
	Name string      // target path, e.g. "openwrt/ath79/sysupgrade-23.05.3.bin"
	Meta meta.Target // Patchbay metadata
	Role string      // the targets role to sign it into; "" is "targets"
}

// TargetInfo is one target as the repository lists it.
type TargetInfo struct {
	Name    string            `json:"name"`
	Role    string            `json:"role"`
	Length  int64             `json:"length"`
	Hashes  map[string]string `json:"hashes"` // algorithm → hex
	Meta    *meta.Target      `json:"patchbay,omitempty"`
	MetaErr string            `json:"patchbay_error,omitempty"`
}

// Add reads an image from src, streaming it once through SHA-256 into
// the public targets directory, and records it as target
// img.Name in img.Role with img.Meta. Save or Publish signs the change.
func (r *Repo) Add(ctx context.Context, src io.Reader, img Image) (TargetInfo, error) {
	role := img.Role
	if role == "" {
		role = metadata.TARGETS
	}
	md, ok := r.targets[role]
	if !ok {
		return TargetInfo{}, fmt.Errorf("add %s: no targets role %q (roles: %s)", img.Name, role, strings.Join(r.Roles(), ", "))
	}
	if err := checkTargetName(img.Name); err != nil {
		return TargetInfo{}, err
	}
	if d, _ := r.delegation(role); d != nil {
		if ok, _ := d.IsDelegatedPath(img.Name); !ok {
			return TargetInfo{}, fmt.Errorf("add %s to role %s: %w %s", img.Name, role, ErrOutsidePaths, strings.Join(d.Paths, ", "))
		}
	}
	custom, err := meta.Encode(img.Meta)
	if err != nil {
		return TargetInfo{}, fmt.Errorf("add %s: patchbay metadata: %w", img.Name, err)
	}
	tf, err := r.storeImage(ctx, src, img.Name)
	if err != nil {
		return TargetInfo{}, err
	}
	raw := json.RawMessage(custom)
	tf.Custom = &raw
	for _, other := range r.Roles() {
		if _, dup := r.targets[other].Signed.Targets[img.Name]; dup && other != role {
			r.log.Warn("target also in another role", "target", img.Name, "role", other)
		}
	}
	md.Signed.Targets[img.Name] = tf
	r.dirty[role] = true
	r.log.Info("target added", "target", img.Name, "role", role, "bytes", tf.Length, "to_version", img.Meta.Version)
	return info(role, tf), nil
}

// checkTargetName accepts relative slash-separated paths without empty,
// "." or ".." segments.
func checkTargetName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
		return fmt.Errorf("target name %q: want a relative path with / separators", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("target name %q: empty, . or .. path segment", name)
		}
	}
	return nil
}

// storeImage copies src below public/targets, hashing on the way, under
// every name a client may ask for.
func (r *Repo) storeImage(ctx context.Context, src io.Reader, name string) (*metadata.TargetFiles, error) {
	dir, _ := path.Split(name)
	dst := filepath.Join(r.layout.publicTargets(), filepath.FromSlash(dir))
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, fmt.Errorf("add %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(dst, ".add-*")
	if err != nil {
		return nil, fmt.Errorf("add %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	// One hash: devices verify every listed hash while streaming, and a
	// second one (SHA-512) would halve their throughput for no security
	// gain over SHA-256.
	h256 := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h256), ctxReader{ctx, src})
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("add %s: copy image: %w", name, err)
	}
	tf := &metadata.TargetFiles{Length: n, Path: name, Hashes: metadata.Hashes{"sha256": h256.Sum(nil)}}
	for _, file := range r.publicNames(tf) {
		p := filepath.Join(dst, file)
		os.Remove(p) // content-addressed: an existing file is the same bytes
		if err := os.Link(tmp.Name(), p); err != nil {
			return nil, fmt.Errorf("add %s: %w", name, err)
		}
	}
	return tf, nil
}

// publicNames are the file names of a target in its directory: one per
// hash with consistent snapshots, else the base name.
func (r *Repo) publicNames(tf *metadata.TargetFiles) []string {
	base := path.Base(tf.Path)
	if !r.root.Signed.ConsistentSnapshot {
		return []string{base}
	}
	var names []string
	for _, alg := range slices.Sorted(maps.Keys(tf.Hashes)) {
		names = append(names, hex.EncodeToString(tf.Hashes[alg])+"."+base)
	}
	return names
}

// Remove deletes target name from role, or from every role having it if
// role is "". The image files stay: devices may be fetching them under a
// snapshot published before.
func (r *Repo) Remove(name, role string) error {
	found := false
	for _, rl := range r.Roles() {
		if role != "" && rl != role {
			continue
		}
		if _, ok := r.targets[rl].Signed.Targets[name]; ok {
			delete(r.targets[rl].Signed.Targets, name)
			r.dirty[rl] = true
			found = true
			r.log.Info("target removed", "target", name, "role", rl)
		}
	}
	if !found {
		if role != "" {
			return fmt.Errorf("remove %s: not a target of role %s", name, role)
		}
		return fmt.Errorf("remove %s: no such target", name)
	}
	return nil
}

// Targets lists every target of every role, by name then role.
func (r *Repo) Targets() []TargetInfo {
	var out []TargetInfo
	for _, role := range r.Roles() {
		for _, tf := range r.targets[role].Signed.Targets {
			out = append(out, info(role, tf))
		}
	}
	slices.SortFunc(out, func(a, b TargetInfo) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Role, b.Role)
	})
	return out
}

func info(role string, tf *metadata.TargetFiles) TargetInfo {
	ti := TargetInfo{Name: tf.Path, Role: role, Length: tf.Length, Hashes: map[string]string{}}
	for alg, sum := range tf.Hashes {
		ti.Hashes[alg] = hex.EncodeToString(sum)
	}
	if tf.Custom != nil {
		m, err := meta.Decode(*tf.Custom)
		if err != nil {
			ti.MetaErr = err.Error()
		} else {
			ti.Meta = &m
		}
	}
	return ti
}

// ctxReader stops a copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

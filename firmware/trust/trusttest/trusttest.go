package trusttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/trust"
	"patchbay.dev/tools/release"
)

// Epoch is the fixed time repositories are signed at; expiry periods count
// from it.
var Epoch = time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)

// Repo is a published repository behind an HTTP server.
type Repo struct {
	t       testing.TB
	Layout  release.Layout
	Release *release.Repo
	Server  *httptest.Server

	mu        sync.Mutex
	requests  []string
	overrides map[string]http.HandlerFunc
}

// New creates a repository with init options in and serves its public
// directory. The server stops when the test ends.
func New(t testing.TB, in release.InitOptions) *Repo {
	t.Helper()
	r := &Repo{t: t, Layout: release.Layout{Repo: t.TempDir()}, overrides: map[string]http.HandlerFunc{}}
	rel, err := release.Init(context.Background(), r.Layout, in, release.Options{Now: func() time.Time { return Epoch }})
	if err != nil {
		t.Fatalf("init repository: %v", err)
	}
	r.Release = rel
	files := http.FileServer(http.Dir(r.Layout.Public()))
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests = append(r.requests, req.URL.Path)
		h := r.overrides[req.URL.Path]
		r.mu.Unlock()
		if h != nil {
			h(w, req)
			return
		}
		files.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Server.Close)
	return r
}

// MetadataURL and TargetsURL are the bases a device is configured with.
func (r *Repo) MetadataURL() string { return r.Server.URL + "/metadata" }
func (r *Repo) TargetsURL() string  { return r.Server.URL + "/targets" }

// Remote is an HTTP remote for the repository with its own client.
func (r *Repo) Remote() *trust.HTTPRemote {
	return &trust.HTTPRemote{Client: trust.NewHTTPClient(), MetadataURL: r.MetadataURL(), TargetsURL: r.TargetsURL()}
}

// Add adds an image and saves; Publish publishes.
func (r *Repo) Add(name string, data []byte, m meta.Target, role string) {
	r.t.Helper()
	if _, err := r.Release.Add(context.Background(), bytes.NewReader(data), release.Image{Name: name, Meta: m, Role: role}); err != nil {
		r.t.Fatalf("add %s: %v", name, err)
	}
	if err := r.Release.Save(context.Background()); err != nil {
		r.t.Fatalf("save: %v", err)
	}
}

// Publish publishes the staged state.
func (r *Repo) Publish() release.Published {
	r.t.Helper()
	p, err := r.Release.Publish(context.Background())
	if err != nil {
		r.t.Fatalf("publish: %v", err)
	}
	return p
}

// Root returns the published 1.root.json, what a device ships with.
func (r *Repo) Root() []byte { return r.Public("1.root.json") }

// Public reads a published metadata file.
func (r *Repo) Public(name string) []byte {
	r.t.Helper()
	data, err := os.ReadFile(filepath.Join(r.Layout.Public(), "metadata", name))
	if err != nil {
		r.t.Fatalf("read published %s: %v", name, err)
	}
	return data
}

// WritePublic replaces (or adds) a published file below public/, as an
// attacker controlling the mirror would: path is "metadata/timestamp.json"
// or "targets/…".
func (r *Repo) WritePublic(path string, data []byte) {
	r.t.Helper()
	p := filepath.Join(r.Layout.Public(), filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	os.Remove(p) // may be a hard link shared with another hash name
	if err := os.WriteFile(p, data, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// Serve answers requests for the URL path (e.g. "/metadata/timestamp.json")
// with h instead of the published file.
func (r *Repo) Serve(path string, h http.HandlerFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.overrides[path] = h
}

// Requests returns the URL paths requested since the last ResetRequests.
func (r *Repo) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.requests...)
}

// ResetRequests forgets the requests so far.
func (r *Repo) ResetRequests() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = nil
}

// Keys loads the current key files of a role from the key directory.
func (r *Repo) Keys(role string) []release.Signer {
	return r.keysIn(filepath.Join(r.Layout.Repo, "keys"), role)
}

// RetiredKeys loads the key files of a role that rotate retired.
func (r *Repo) RetiredKeys(role string) []release.Signer {
	return r.keysIn(filepath.Join(r.Layout.Repo, "keys", "retired"), role)
}

func (r *Repo) keysIn(dir, role string) []release.Signer {
	r.t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, role+"-*.pem"))
	if err != nil || len(paths) == 0 {
		r.t.Fatalf("no key files for %s in %s", role, dir)
	}
	var out []release.Signer
	for _, p := range paths {
		k, err := release.LoadKeyFile(p)
		if err != nil {
			r.t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

// Forge decodes metadata, lets mutate change it, replaces its signatures
// with ones by keys, and encodes it.
func Forge[T metadata.Roles](t testing.TB, data []byte, mutate func(*metadata.Metadata[T]), keys ...release.Signer) []byte {
	t.Helper()
	md, err := (&metadata.Metadata[T]{}).FromBytes(data)
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	mutate(md)
	md.ClearSignatures()
	if err := release.Sign(context.Background(), md, keys...); err != nil {
		t.Fatalf("forge: %v", err)
	}
	out, err := md.ToBytes(false)
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	return out
}

// MetaFile describes metadata bytes the way snapshot and timestamp list
// them: version, length and SHA-256.
func MetaFile(version int64, data []byte) *metadata.MetaFiles {
	sum := sha256.Sum256(data)
	return &metadata.MetaFiles{Version: version, Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": sum[:]}}
}

// Dir reads every file below dir (relative path → content) so a test can
// tell whether anything changed.
func Dir(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// Changed lists the files that differ between two Dir results.
func Changed(before, after map[string]string) []string {
	var out []string
	for name, b := range before {
		if a, ok := after[name]; !ok || a != b {
			out = append(out, name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// AddSynthetic puts n targets with Patchbay metadata straight into the
// staged targets role, signed with its keys, without image files: for
// benchmarks of metadata at scale, where adding 10,000 images one by one
// would measure fsync. Target i is "fw/board-NNNN/image-NNNNN.bin" for
// board i%500.
func (r *Repo) AddSynthetic(n int) {
	r.t.Helper()
	path := filepath.Join(r.Layout.Repo, "staged", "targets.json")
	data, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatal(err)
	}
	signed := Forge(r.t, data, func(m *metadata.Metadata[metadata.TargetsType]) {
		for i := range n {
			name := fmt.Sprintf("fw/board-%04d/image-%05d.bin", i%500, i)
			tf, err := metadata.TargetFile().FromBytes(name, []byte(name), "sha256", "sha512")
			if err != nil {
				r.t.Fatal(err)
			}
			custom, err := meta.Encode(meta.Target{
				Kind: meta.KindFirmware, Boards: []string{fmt.Sprintf("board-%04d", i%500)}, Version: fmt.Sprintf("23.05.%d", i),
				CVEs: []string{fmt.Sprintf("CVE-2024-%05d", i)}, CVSS: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", RequiresReboot: true,
			})
			if err != nil {
				r.t.Fatal(err)
			}
			raw := json.RawMessage(custom)
			tf.Custom = &raw
			m.Signed.Targets[name] = tf
		}
	}, r.Keys("targets")...)
	if err := os.WriteFile(path, signed, 0o644); err != nil {
		r.t.Fatal(err)
	}
	rel, err := release.Open(r.Layout, release.Options{Now: func() time.Time { return Epoch }})
	if err != nil {
		r.t.Fatal(err)
	}
	r.Release = rel
}

package release_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/trust/trusttest"
	"patchbay.dev/tools/release"
)

var epoch = time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)

var fw = meta.Target{Kind: meta.KindFirmware, Boards: []string{"openwrt-ath79-generic"}, Version: "23.05.3"}

func newRepo(t *testing.T, in release.InitOptions) (*release.Repo, release.Layout) {
	t.Helper()
	l := release.Layout{Repo: t.TempDir()}
	r, err := release.Init(context.Background(), l, in, release.Options{Now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return r, l
}

func reopen(t *testing.T, l release.Layout, signers ...release.Signer) *release.Repo {
	t.Helper()
	r, err := release.Open(l, release.Options{Now: func() time.Time { return epoch }, Signers: signers})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func TestInit(t *testing.T) {
	l := release.Layout{Repo: t.TempDir(), RootKeys: filepath.Join(t.TempDir(), "offline")}
	r, err := release.Init(context.Background(), l, release.InitOptions{
		KeyType: release.KeyECDSAP256, Thresholds: map[string]int{"root": 2}, Keys: map[string]int{"targets": 2},
	}, release.Options{Now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatal(err)
	}
	root := r.Root()
	for role, want := range map[string][2]int{"root": {2, 2}, "targets": {1, 2}, "snapshot": {1, 1}, "timestamp": {1, 1}} {
		if got := [2]int{root.Roles[role].Threshold, len(root.Roles[role].KeyIDs)}; got != want {
			t.Errorf("%s threshold, keys = %v, want %v", role, got, want)
		}
	}
	for _, k := range root.Keys {
		if k.Type != metadata.KeyTypeECDSA_SHA2_P256 {
			t.Errorf("key type %s, want ecdsa", k.Type)
		}
	}
	if !root.ConsistentSnapshot || !root.Expires.Equal(epoch.Add(365*24*time.Hour)) {
		t.Errorf("root consistent %t expires %s", root.ConsistentSnapshot, root.Expires)
	}
	offline, _ := filepath.Glob(filepath.Join(l.RootKeys, "root-*.pem"))
	online, _ := filepath.Glob(filepath.Join(l.Repo, "keys", "*.pem"))
	if len(offline) != 2 || len(online) != 4 {
		t.Errorf("root keys %d in %s, other keys %d; want 2 and 4", len(offline), l.RootKeys, len(online))
	}
	for _, p := range append(offline, online...) {
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o, want 600", p, st.Mode().Perm())
		}
	}
	if st, _ := os.Stat(l.RootKeys); st.Mode().Perm() != 0o700 {
		t.Errorf("root key dir mode %o, want 700", st.Mode().Perm())
	}
	want := []string{"patchbay-release.json", "staged/1.root.json", "staged/targets.json"}
	if diff := cmp.Diff(want, slices.DeleteFunc(files(t, l.Repo), func(s string) bool { return strings.HasPrefix(s, "keys/") })); diff != "" {
		t.Errorf("repository files (-want +got):\n%s", diff)
	}
	if _, err := release.Init(context.Background(), l, release.InitOptions{}, release.Options{}); !errors.Is(err, release.ErrExists) {
		t.Errorf("second Init = %v, want ErrExists", err)
	}
	if _, err := release.Open(release.Layout{Repo: t.TempDir()}, release.Options{}); !errors.Is(err, release.ErrNoRepository) {
		t.Errorf("Open(empty) = %v, want ErrNoRepository", err)
	}
}

func TestAdd(t *testing.T) {
	r, l := newRepo(t, release.InitOptions{})
	ctx := context.Background()
	img := bytes.Repeat([]byte("firmware"), 10000)
	ti, err := r.Add(ctx, bytes.NewReader(img), release.Image{Name: "openwrt/ath79/fw.bin", Meta: fw})
	if err != nil {
		t.Fatal(err)
	}
	s256 := sha256.Sum256(img)
	want := map[string]string{"sha256": hex.EncodeToString(s256[:])}
	if diff := cmp.Diff(want, ti.Hashes); diff != "" || ti.Length != int64(len(img)) {
		t.Errorf("Add = %d bytes, hashes (-want +got):\n%s", ti.Length, diff)
	}
	for _, h := range want {
		got, err := os.ReadFile(filepath.Join(l.Public(), "targets", "openwrt", "ath79", h+".fw.bin"))
		if err != nil || !bytes.Equal(got, img) {
			t.Errorf("public image under %s…: %v", h[:8], err)
		}
	}
	if err := r.Delegate(ctx, release.Delegation{Role: "acme", Paths: []string{"acme/*/*"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		img  release.Image
		want string
	}{
		{"outside delegated paths", release.Image{Name: "openwrt/x.bin", Meta: fw, Role: "acme"}, "outside the role's delegated paths"},
		{"wrong depth for pattern", release.Image{Name: "acme/x.bin", Meta: fw, Role: "acme"}, "outside"},
		{"no such role", release.Image{Name: "x.bin", Meta: fw, Role: "nope"}, `no targets role "nope"`},
		{"absolute name", release.Image{Name: "/x.bin", Meta: fw}, "relative path"},
		{"dot dot", release.Image{Name: "a/../x.bin", Meta: fw}, ".. path segment"},
		{"invalid metadata", release.Image{Name: "x.bin", Meta: meta.Target{Kind: meta.KindApp}}, "boards: at least one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Add(ctx, strings.NewReader("x"), tt.img)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Add = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := r.Add(ctx, strings.NewReader("acme"), release.Image{Name: "acme/r1/x.bin", Meta: fw, Role: "acme"}); err != nil {
		t.Errorf("Add inside delegated paths: %v", err)
	}
	if err := r.Save(ctx); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ti := range reopen(t, l).Targets() {
		names = append(names, ti.Role+":"+ti.Name)
	}
	if diff := cmp.Diff([]string{"acme:acme/r1/x.bin", "targets:openwrt/ath79/fw.bin"}, names); diff != "" {
		t.Errorf("Targets after reopening (-want +got):\n%s", diff)
	}
}

func TestPublishVersions(t *testing.T) {
	r, l := newRepo(t, release.InitOptions{})
	ctx := context.Background()
	if _, err := r.Add(ctx, strings.NewReader("one"), release.Image{Name: "one.bin", Meta: fw}); err != nil {
		t.Fatal(err)
	}
	p1, err := r.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := reopen(t, l).Publish(ctx) // nothing changed: only snapshot and timestamp move
	if err != nil {
		t.Fatal(err)
	}
	r = reopen(t, l)
	r.Remove("one.bin", "")
	if err := r.Save(ctx); err != nil {
		t.Fatal(err)
	}
	p3, err := r.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := [][]string{p1.Files, p2.Files, p3.Files}
	want := [][]string{
		{"1.root.json", "1.targets.json", "1.snapshot.json", "timestamp.json"},
		{"2.snapshot.json", "timestamp.json"},
		{"2.targets.json", "3.snapshot.json", "timestamp.json"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files published (-want +got):\n%s", diff)
	}
	if p3.Snapshot != 3 || p3.Timestamp != 3 {
		t.Errorf("third publish = snapshot %d timestamp %d, want 3 and 3", p3.Snapshot, p3.Timestamp)
	}
	md, err := (&metadata.Metadata[metadata.SnapshotType]{}).FromFile(filepath.Join(l.Public(), "metadata", "3.snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	tgt, _ := os.ReadFile(filepath.Join(l.Public(), "metadata", "2.targets.json"))
	if err := md.Signed.Meta["targets.json"].VerifyLengthHashes(tgt); err != nil || md.Signed.Meta["targets.json"].Length == 0 {
		t.Errorf("snapshot's length and hash of targets.json: %v", err)
	}
}

func TestPlainNames(t *testing.T) {
	r, l := newRepo(t, release.InitOptions{DisableConsistentSnapshot: true})
	ctx := context.Background()
	if _, err := r.Add(ctx, strings.NewReader("one"), release.Image{Name: "dir/one.bin", Meta: fw}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"metadata/1.root.json", "metadata/root.json", "metadata/snapshot.json", "metadata/targets.json", "metadata/timestamp.json", "targets/dir/one.bin"}
	if diff := cmp.Diff(want, files(t, l.Public())); diff != "" {
		t.Errorf("public files (-want +got):\n%s", diff)
	}
	if rep, err := release.Verify(ctx, release.VerifyOptions{Dir: l.Public(), Now: epoch}); err != nil {
		t.Errorf("Verify: %v %v", err, rep.Problems)
	}
}

// hsm stands for a key that never leaves its device: it implements Signer
// and nothing else.
type hsm struct{ k release.Signer }

func (h hsm) Public() crypto.PublicKey { return h.k.Public() }
func (h hsm) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	return h.k.Sign(ctx, msg)
}

func TestTimestampNeedsOnlyTimestampKey(t *testing.T) {
	r, l := newRepo(t, release.InitOptions{})
	ctx := context.Background()
	if _, err := r.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	// Move every key away; the timestamp key comes back as an "HSM".
	away := t.TempDir()
	keys, _ := filepath.Glob(filepath.Join(l.Repo, "keys", "*.pem"))
	var tsKey release.Signer
	for _, k := range keys {
		if strings.Contains(filepath.Base(k), "timestamp-") {
			fk, err := release.LoadKeyFile(k)
			if err != nil {
				t.Fatal(err)
			}
			tsKey = hsm{fk}
		}
		os.Rename(k, filepath.Join(away, filepath.Base(k)))
	}
	p, err := reopen(t, l, tsKey).Timestamp(ctx)
	if err != nil {
		t.Fatalf("Timestamp with only the timestamp key: %v", err)
	}
	if p.Timestamp != 2 || p.Snapshot != 1 {
		t.Errorf("Timestamp = %+v, want timestamp 2 over snapshot 1", p)
	}
	_, err = reopen(t, l, tsKey).Publish(ctx)
	if err == nil || !strings.Contains(err.Error(), "sign snapshot: 0 of its keys are at hand, its threshold is 1") {
		t.Errorf("Publish without snapshot key = %v, want it to say which key is missing", err)
	}
}

func TestRotateRootChain(t *testing.T) {
	r, l := newRepo(t, release.InitOptions{})
	ctx := context.Background()
	first := r.Root().Roles["root"].KeyIDs
	for range 2 {
		out, err := r.Rotate(ctx, release.Rotation{Role: "root", Threshold: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Retired) != 1 {
			t.Errorf("retired %v, want the one old root key", out.Retired)
		}
	}
	if _, err := r.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	var prev *metadata.Metadata[metadata.RootType]
	for v := 1; v <= 3; v++ {
		md, err := (&metadata.Metadata[metadata.RootType]{}).FromFile(filepath.Join(l.Public(), "metadata", []string{"", "1", "2", "3"}[v]+".root.json"))
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil {
			if err := prev.VerifyDelegate("root", md); err != nil {
				t.Errorf("root %d not signed by root %d's keys: %v", v, v-1, err)
			}
		}
		if err := md.VerifyDelegate("root", md); err != nil {
			t.Errorf("root %d not self-signed: %v", v, err)
		}
		prev = md
	}
	if slices.Equal(first, prev.Signed.Roles["root"].KeyIDs) {
		t.Error("root keys did not change")
	}
	// Version 1's key cannot sign version 3: it was retired.
	old, _ := filepath.Glob(filepath.Join(l.Repo, "keys", "retired", "root-*.pem"))
	if len(old) != 2 {
		t.Errorf("retired root keys %d, want 2", len(old))
	}
	if rep, err := release.Verify(ctx, release.VerifyOptions{Dir: l.Public(), Now: epoch}); err != nil {
		t.Errorf("Verify after rotations: %v %v", err, rep.Problems)
	}
}

func TestVerifyFindsProblems(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, l release.Layout)
		now   time.Time
		want  string
	}{
		{"good", nil, epoch, ""},
		{"expired timestamp", nil, epoch.Add(25 * time.Hour), "timestamp.json is expired"},
		{"changed image", func(t *testing.T, l release.Layout) {
			p, _ := filepath.Glob(filepath.Join(l.Public(), "targets", "fw", "*.img.bin"))
			for _, f := range p {
				os.Remove(f)
				os.WriteFile(f, bytes.Repeat([]byte("y"), 4), 0o644)
			}
		}, epoch, "hash mismatch"},
		{"missing sha256 name", func(t *testing.T, l release.Layout) {
			p, _ := filepath.Glob(filepath.Join(l.Public(), "targets", "fw", "*.img.bin"))
			os.Remove(p[0])
		}, epoch, "fetch"},
		{"snapshot key lost, targets re-signed by hand", func(t *testing.T, l release.Layout) {
			os.WriteFile(filepath.Join(l.Public(), "metadata", "1.targets.json"), []byte(`{"signed":{}}`), 0o644)
		}, epoch, "length/hash verification"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, l := newRepo(t, release.InitOptions{})
			ctx := context.Background()
			if _, err := r.Add(ctx, strings.NewReader("xxxx"), release.Image{Name: "fw/img.bin", Meta: fw}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Publish(ctx); err != nil {
				t.Fatal(err)
			}
			if tt.spoil != nil {
				tt.spoil(t, l)
			}
			rep, err := release.Verify(ctx, release.VerifyOptions{Dir: l.Public(), Now: tt.now})
			if tt.want == "" {
				if err != nil {
					t.Errorf("Verify = %v, problems %v", err, rep.Problems)
				}
				if rep.Targets != 1 || rep.Roles["root"].Version != 1 {
					t.Errorf("Report = %+v", rep)
				}
				return
			}
			if !errors.Is(err, release.ErrVerifyFailed) || !strings.Contains(strings.Join(rep.Problems, "\n"), tt.want) {
				t.Errorf("Verify = %v, problems %q; want ErrVerifyFailed and a problem saying %q", err, rep.Problems, tt.want)
			}
		})
	}
}

// A thief with one of two targets keys (and the online keys) publishes
// targets signed by one key: verify says the threshold is not met.
func TestVerifyThresholdNotMet(t *testing.T) {
	repo := trusttest.New(t, release.InitOptions{Thresholds: map[string]int{"targets": 2}})
	repo.Add("fw/img.bin", []byte("xxxx"), fw, "")
	repo.Publish()
	tgt := trusttest.Forge(t, repo.Public("1.targets.json"), func(*metadata.Metadata[metadata.TargetsType]) {}, repo.Keys("targets")[:1]...)
	repo.WritePublic("metadata/1.targets.json", tgt)
	snap := trusttest.Forge(t, repo.Public("1.snapshot.json"), func(m *metadata.Metadata[metadata.SnapshotType]) {
		m.Signed.Meta["targets.json"] = trusttest.MetaFile(1, tgt)
	}, repo.Keys("snapshot")...)
	repo.WritePublic("metadata/1.snapshot.json", snap)
	ts := trusttest.Forge(t, repo.Public("timestamp.json"), func(m *metadata.Metadata[metadata.TimestampType]) {
		m.Signed.Meta["snapshot.json"] = trusttest.MetaFile(1, snap)
	}, repo.Keys("timestamp")...)
	repo.WritePublic("metadata/timestamp.json", ts)
	rep, err := release.Verify(context.Background(), release.VerifyOptions{Dir: repo.Layout.Public(), Now: trusttest.Epoch})
	if !errors.Is(err, release.ErrVerifyFailed) || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "Verifying targets failed, not enough signatures, got 1, want 2") {
		t.Errorf("Verify = %v, problems %q", err, rep.Problems)
	}
}

func TestLoadKeyFileRefusesOpenPermissions(t *testing.T) {
	_, l := newRepo(t, release.InitOptions{})
	keys, _ := filepath.Glob(filepath.Join(l.Repo, "keys", "*.pem"))
	os.Chmod(keys[0], 0o644)
	if _, err := release.LoadKeyFile(keys[0]); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("LoadKeyFile(0644) = %v, want advice to chmod 600", err)
	}
	if _, err := reopen(t, l).Publish(context.Background()); err == nil {
		t.Error("Publish with a world-readable key = nil error")
	}
}

package trust_test

// The attacks TUF defends against (TUF specification 1.0, "Goals to
// protect against specific attacks"), each against a repository made by
// tools/release and served over HTTP on loopback. Each must fail closed
// with a clear error, leave the target directory as it was, and never let
// the attacker's metadata into the trusted metadata directory.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/trust"
	"patchbay.dev/firmware/trust/trusttest"
	"patchbay.dev/firmware/version"
	"patchbay.dev/tools/release"
)

const (
	fwName  = "openwrt/ath79/openwrt-23.05.3-ath79-generic-squashfs-sysupgrade.bin"
	board   = "openwrt-ath79-generic"
	current = "23.05.3"
)

var fwMeta = meta.Target{
	Kind: meta.KindFirmware, Boards: []string{board}, Version: current, MinVersion: "22.03.0",
	CVEs: []string{"CVE-2024-3094"}, CVSS: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", KEV: true,
}

var fwImage = []byte(strings.Repeat("sysupgrade image for ath79 ", 4000))

// device is a device's view: its trusted metadata and its target
// directory, set up from the repository's first root and refreshed once.
type device struct {
	repo      *trusttest.Repo
	meta      string
	targets   string
	client    *trust.Client
	now       time.Time
	before    map[string]string // metadata directory when the attack starts
	beforeTgt map[string]string
}

func newDevice(t *testing.T, repo *trusttest.Repo) *device {
	t.Helper()
	dir := t.TempDir()
	d := &device{repo: repo, meta: filepath.Join(dir, "metadata"), targets: filepath.Join(dir, "targets"), now: trusttest.Epoch.Add(time.Hour)}
	if err := trust.Init(d.meta, repo.Root()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	c, err := trust.New(trust.Options{MetadataDir: d.meta, Remote: repo.Remote(), Now: func() time.Time { return d.now }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	d.client = c
	d.refresh(t)
	return d
}

func (d *device) refresh(t *testing.T) {
	t.Helper()
	s, err := d.client.Refresh(context.Background())
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	s.Close()
}

// attackBegins records the device's state; untouched checks it later.
func (d *device) attackBegins(t *testing.T) {
	d.before, d.beforeTgt = trusttest.Dir(t, d.meta), trusttest.Dir(t, d.targets)
}

// untouched fails unless only the files in mayAdvance (roles the real
// repository legitimately moved on) changed in the metadata directory,
// and nothing in the target directory.
func (d *device) untouched(t *testing.T, mayAdvance ...string) {
	t.Helper()
	var changed []string
	for _, f := range trusttest.Changed(d.before, trusttest.Dir(t, d.meta)) {
		if !contains(mayAdvance, f) {
			changed = append(changed, f)
		}
	}
	if len(changed) > 0 {
		t.Errorf("trusted metadata changed by the attack: %v", changed)
	}
	if c := trusttest.Changed(d.beforeTgt, trusttest.Dir(t, d.targets)); len(c) > 0 {
		t.Errorf("target directory changed by the attack: %v", c)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// download refreshes and downloads name into the target directory, as the
// agent does.
func (d *device) download(ctx context.Context, name string) error {
	s, err := d.client.Refresh(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	tg, err := s.Target(ctx, name)
	if err != nil {
		return err
	}
	return d.client.DownloadFile(ctx, tg, filepath.Join(d.targets, "fw.bin"))
}

func published(t *testing.T, in release.InitOptions) *trusttest.Repo {
	t.Helper()
	repo := trusttest.New(t, in)
	repo.Add(fwName, fwImage, fwMeta, "")
	repo.Publish()
	return repo
}

func wantErr(t *testing.T, err error, target any, text string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one saying %q", text)
	}
	t.Logf("refused: %v", err)
	switch tg := target.(type) {
	case error:
		if !errors.Is(err, tg) {
			t.Errorf("error %q does not match %T", err, tg)
		}
	case nil:
	default:
		if !errors.As(err, target) {
			t.Errorf("error %q is not a %T", err, target)
		}
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q does not say %q", err, text)
	}
}

// Arbitrary software installation: the mirror serves a changed image.
func TestAttackArbitrarySoftware(t *testing.T) {
	repo := published(t, release.InitOptions{})
	d := newDevice(t, repo)
	s, err := d.client.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tg, err := s.Target(context.Background(), fwName)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	evil := append([]byte(nil), fwImage...)
	evil[len(evil)/2] ^= 1
	repo.WritePublic("targets/"+tg.RemotePath(), evil)
	d.attackBegins(t)

	err = d.download(context.Background(), fwName)
	var hm *trust.HashMismatchError
	wantErr(t, err, &hm, "sha256 hash mismatch")
	if hm != nil && (hm.Want == hm.Got || hm.Algorithm != "sha256") {
		t.Errorf("HashMismatchError = %+v", hm)
	}
	d.untouched(t)
}

// Rollback attacks: old but validly signed metadata, replayed or re-signed
// by a thief of the online keys.
func TestAttackRollback(t *testing.T) {
	tests := []struct {
		name       string
		attack     func(t *testing.T, repo *trusttest.Repo, old map[string][]byte)
		text       string
		mayAdvance []string
	}{
		{
			name: "older timestamp replayed",
			attack: func(t *testing.T, repo *trusttest.Repo, old map[string][]byte) {
				repo.WritePublic("metadata/timestamp.json", old["timestamp.json"])
			},
			text: "new timestamp version 1 must be >= 2",
		},
		{
			name: "timestamp pointing at an older snapshot",
			attack: func(t *testing.T, repo *trusttest.Repo, old map[string][]byte) {
				ts := trusttest.Forge(t, repo.Public("timestamp.json"), func(m *metadata.Metadata[metadata.TimestampType]) {
					m.Signed.Version++
					m.Signed.Meta["snapshot.json"] = trusttest.MetaFile(1, old["1.snapshot.json"])
				}, repo.Keys("timestamp")...)
				repo.WritePublic("metadata/timestamp.json", ts)
			},
			text: "new snapshot version 1 must be >= 2",
		},
		{
			name: "snapshot pointing at an older targets",
			attack: func(t *testing.T, repo *trusttest.Repo, old map[string][]byte) {
				snap := trusttest.Forge(t, repo.Public("2.snapshot.json"), func(m *metadata.Metadata[metadata.SnapshotType]) {
					m.Signed.Version = 3
					m.Signed.Meta["targets.json"] = trusttest.MetaFile(1, old["1.targets.json"])
				}, repo.Keys("snapshot")...)
				repo.WritePublic("metadata/3.snapshot.json", snap)
				ts := trusttest.Forge(t, repo.Public("timestamp.json"), func(m *metadata.Metadata[metadata.TimestampType]) {
					m.Signed.Version++
					m.Signed.Meta["snapshot.json"] = trusttest.MetaFile(3, snap)
				}, repo.Keys("timestamp")...)
				repo.WritePublic("metadata/timestamp.json", ts)
			},
			text: "bad version number",
			// The thief signed a valid timestamp with the stolen online key;
			// the rollback itself is refused.
			mayAdvance: []string{"timestamp.json"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := published(t, release.InitOptions{})
			old := map[string][]byte{
				"timestamp.json": repo.Public("timestamp.json"), "1.snapshot.json": repo.Public("1.snapshot.json"),
				"1.targets.json": repo.Public("1.targets.json"),
			}
			repo.Add("openwrt/ath79/next.bin", []byte("next"), fwMeta, "")
			repo.Publish() // timestamp 2, snapshot 2, targets 2
			d := newDevice(t, repo)
			d.attackBegins(t)
			tt.attack(t, repo, old)
			_, err := d.client.Refresh(context.Background())
			wantErr(t, err, &metadata.ErrRepository{}, tt.text)
			d.untouched(t, tt.mayAdvance...)
		})
	}
}

// Indefinite freeze: the repository stops changing and serves metadata
// that has expired by the device's clock.
func TestAttackIndefiniteFreeze(t *testing.T) {
	repo := published(t, release.InitOptions{})
	d := newDevice(t, repo)
	d.attackBegins(t)
	d.now = trusttest.Epoch.Add(25 * time.Hour) // timestamps live 24h
	_, err := d.client.Refresh(context.Background())
	wantErr(t, err, &metadata.ErrExpiredMetadata{}, "timestamp.json is expired")
	d.untouched(t)
}

// Mix-and-match: metadata of different repository states served together.
func TestAttackMixAndMatch(t *testing.T) {
	repo := published(t, release.InitOptions{})
	oldTargets := repo.Public("1.targets.json")
	d := newDevice(t, repo)
	repo.Add("openwrt/ath79/next.bin", []byte("next"), fwMeta, "")
	repo.Publish()
	repo.WritePublic("metadata/2.targets.json", oldTargets) // version 2 is the old targets
	d.attackBegins(t)
	_, err := d.client.Refresh(context.Background())
	wantErr(t, err, &metadata.ErrLengthOrHashMismatch{}, "length/hash verification")
	// Timestamp and snapshot are the repository's own new ones; the
	// mismatched targets is not trusted.
	d.untouched(t, "timestamp.json", "snapshot.json")
}

// Endless data: a target or metadata file that goes on and on.
func TestAttackEndlessData(t *testing.T) {
	endless := func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("A", 32<<10))
		for i := 0; i < 2048; i++ { // 64 MiB, far past every limit
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	t.Run("target", func(t *testing.T) {
		repo := published(t, release.InitOptions{})
		d := newDevice(t, repo)
		s, err := d.client.Refresh(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		tg, err := s.Target(context.Background(), fwName)
		if err != nil {
			t.Fatal(err)
		}
		repo.Serve("/targets/"+tg.RemotePath(), endless)
		d.attackBegins(t)
		var w countingWriter
		err = d.client.Download(context.Background(), tg, &w)
		var le *trust.LengthError
		wantErr(t, err, &le, "more than")
		if int64(w) > tg.Length {
			t.Errorf("writer got %d bytes, more than the signed length %d", w, tg.Length)
		}
		err = d.client.DownloadFile(context.Background(), tg, filepath.Join(d.targets, "fw.bin"))
		wantErr(t, err, &le, "more than")
		d.untouched(t)
	})
	t.Run("timestamp", func(t *testing.T) {
		repo := published(t, release.InitOptions{})
		d := newDevice(t, repo)
		repo.Serve("/metadata/timestamp.json", endless)
		d.attackBegins(t)
		_, err := d.client.Refresh(context.Background())
		var le *trust.LengthError
		wantErr(t, err, &le, "metadata timestamp.json: more than 16384 bytes")
		d.untouched(t)
	})
	t.Run("snapshot past its signed length", func(t *testing.T) {
		repo := published(t, release.InitOptions{})
		d := newDevice(t, repo)
		repo.Publish()
		repo.WritePublic("metadata/2.snapshot.json", append(repo.Public("2.snapshot.json"), strings.Repeat(" ", 100)...))
		d.attackBegins(t)
		_, err := d.client.Refresh(context.Background())
		var le *trust.LengthError
		wantErr(t, err, &le, "metadata 2.snapshot.json: more than")
		d.untouched(t, "timestamp.json")
	})
}

type countingWriter int64

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}

// A signed image for another board must not be installed.
func TestAttackWrongBoard(t *testing.T) {
	repo := published(t, release.InitOptions{})
	d := newDevice(t, repo)
	s, err := d.client.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tg, err := s.Target(context.Background(), fwName)
	if err != nil {
		t.Fatal(err)
	}
	dev := trust.Device{Board: "openwrt-ramips-mt7621", Kind: meta.KindFirmware, Installed: "23.05.0", Scheme: version.Dotted}
	wantErr(t, trust.Check(tg, dev), trust.ErrWrongBoard, "fits openwrt-ath79-generic")
	all, err := s.Targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trust.Select(all, dev, nil); !errors.Is(err, trust.ErrNoUpdate) {
		t.Errorf("Select = %v, want ErrNoUpdate", err)
	}
}

// A signed but older image must not replace a newer one unless its
// signed metadata allows the downgrade.
func TestAttackDowngrade(t *testing.T) {
	repo := trusttest.New(t, release.InitOptions{})
	old := fwMeta
	old.Version, old.MinVersion = "22.03.5", ""
	repo.Add("openwrt/ath79/old.bin", []byte("old"), old, "")
	allowed := old
	allowed.AllowDowngrade = true
	repo.Add("openwrt/ath79/rollback.bin", []byte("rollback"), allowed, "")
	repo.Publish()
	d := newDevice(t, repo)
	s, err := d.client.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dev := trust.Device{Board: board, Kind: meta.KindFirmware, Installed: current, Scheme: version.Dotted}
	tg, err := s.Target(context.Background(), "openwrt/ath79/old.bin")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, trust.Check(tg, dev), trust.ErrDowngrade, "installed 23.05.3, target 22.03.5")
	tg, err = s.Target(context.Background(), "openwrt/ath79/rollback.bin")
	if err != nil {
		t.Fatal(err)
	}
	if err := trust.Check(tg, dev); err != nil {
		t.Errorf("Check(signed allow_downgrade) = %v, want nil", err)
	}
	all, _ := s.Targets(context.Background())
	if got, err := trust.Select(all, dev, nil); !errors.Is(err, trust.ErrNoUpdate) {
		t.Errorf("Select = %s, %v; want ErrNoUpdate (Select never picks a downgrade)", got.Name, err)
	}
}

// After a key rotation the old key signs nothing a device accepts.
func TestAttackRotatedKey(t *testing.T) {
	for _, role := range []string{"timestamp", "root"} {
		t.Run(role, func(t *testing.T) {
			repo := published(t, release.InitOptions{})
			d := newDevice(t, repo)
			if _, err := repo.Release.Rotate(context.Background(), release.Rotation{Role: role}); err != nil {
				t.Fatal(err)
			}
			repo.Publish()
			s, err := d.client.Refresh(context.Background())
			if err != nil {
				t.Fatalf("refresh after rotation: %v", err)
			}
			if v := s.Versions()["root"]; v != 2 {
				t.Errorf("trusted root version %d after rotation, want 2", v)
			}
			s.Close()
			d.attackBegins(t)
			old := repo.RetiredKeys(role)
			switch role {
			case "timestamp":
				ts := trusttest.Forge(t, repo.Public("timestamp.json"), func(m *metadata.Metadata[metadata.TimestampType]) {
					m.Signed.Version++
					m.Signed.Expires = m.Signed.Expires.Add(365 * 24 * time.Hour)
				}, old...)
				repo.WritePublic("metadata/timestamp.json", ts)
			case "root":
				root := trusttest.Forge(t, repo.Public("2.root.json"), func(m *metadata.Metadata[metadata.RootType]) {
					m.Signed.Version = 3
				}, old...)
				repo.WritePublic("metadata/3.root.json", root)
			}
			_, err = d.client.Refresh(context.Background())
			wantErr(t, err, &metadata.ErrUnsignedMetadata{}, "not enough signatures")
			d.untouched(t)
		})
	}
}

// Fewer signatures than the role's threshold: one stolen key of two.
func TestAttackThresholdNotMet(t *testing.T) {
	repo := published(t, release.InitOptions{Thresholds: map[string]int{"targets": 2}})
	d := newDevice(t, repo)
	stolen := repo.Keys("targets")[:1]
	tgt := trusttest.Forge(t, repo.Public("1.targets.json"), func(m *metadata.Metadata[metadata.TargetsType]) {
		m.Signed.Version = 2
		tf := m.Signed.Targets[fwName]
		tf.Hashes["sha256"] = make([]byte, 32) // the thief's image
	}, stolen...)
	repo.WritePublic("metadata/2.targets.json", tgt)
	snap := trusttest.Forge(t, repo.Public("1.snapshot.json"), func(m *metadata.Metadata[metadata.SnapshotType]) {
		m.Signed.Version = 2
		m.Signed.Meta["targets.json"] = trusttest.MetaFile(2, tgt)
	}, repo.Keys("snapshot")...)
	repo.WritePublic("metadata/2.snapshot.json", snap)
	ts := trusttest.Forge(t, repo.Public("timestamp.json"), func(m *metadata.Metadata[metadata.TimestampType]) {
		m.Signed.Version = 2
		m.Signed.Meta["snapshot.json"] = trusttest.MetaFile(2, snap)
	}, repo.Keys("timestamp")...)
	repo.WritePublic("metadata/timestamp.json", ts)
	d.attackBegins(t)
	_, err := d.client.Refresh(context.Background())
	wantErr(t, err, &metadata.ErrUnsignedMetadata{}, "Verifying targets failed, not enough signatures, got 1, want 2")
	// The online keys were stolen too; targets, the role under attack,
	// stays as it was.
	d.untouched(t, "timestamp.json", "snapshot.json")
}

// A delegated role signs a target outside the paths delegated to it.
func TestAttackDelegatedOutsidePaths(t *testing.T) {
	repo := trusttest.New(t, release.InitOptions{})
	ctx := context.Background()
	if err := repo.Release.Delegate(ctx, release.Delegation{Role: "acme", Paths: []string{"acme/*"}}); err != nil {
		t.Fatal(err)
	}
	repo.Add("acme/router.bin", []byte("acme image"), fwMeta, "acme")
	// The release tool refuses to sign outside the role's paths…
	if _, err := repo.Release.Add(ctx, strings.NewReader("evil"), release.Image{Name: fwName, Meta: fwMeta, Role: "acme"}); !errors.Is(err, release.ErrOutsidePaths) {
		t.Fatalf("Add outside paths = %v, want ErrOutsidePaths", err)
	}
	repo.Publish()
	// …so the vendor's key signs it by hand, and the repository publishes
	// the vendor's file as it does.
	evil := []byte("evil image for ath79")
	acme := trusttest.Forge(t, repo.Public("1.acme.json"), func(m *metadata.Metadata[metadata.TargetsType]) {
		m.Signed.Version = 2
		tf, _ := metadata.TargetFile().FromBytes(fwName, evil, "sha256")
		raw := m.Signed.Targets["acme/router.bin"].Custom
		tf.Custom = raw
		m.Signed.Targets[fwName] = tf
	}, repo.Keys("acme")...)
	repo.WritePublic("metadata/2.acme.json", acme)
	snap := trusttest.Forge(t, repo.Public("1.snapshot.json"), func(m *metadata.Metadata[metadata.SnapshotType]) {
		m.Signed.Version = 2
		m.Signed.Meta["acme.json"] = trusttest.MetaFile(2, acme)
	}, repo.Keys("snapshot")...)
	repo.WritePublic("metadata/2.snapshot.json", snap)
	ts := trusttest.Forge(t, repo.Public("timestamp.json"), func(m *metadata.Metadata[metadata.TimestampType]) {
		m.Signed.Version = 2
		m.Signed.Meta["snapshot.json"] = trusttest.MetaFile(2, snap)
	}, repo.Keys("timestamp")...)
	repo.WritePublic("metadata/timestamp.json", ts)

	d := newDevice(t, repo)
	d.attackBegins(t)
	s, err := d.client.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range all {
		names = append(names, tg.Name)
	}
	if diff := cmp.Diff([]string{"acme/router.bin"}, names); diff != "" {
		t.Errorf("Targets (-want +got):\n%s", diff)
	}
	_, err = s.Target(ctx, fwName)
	wantErr(t, err, trust.ErrTargetNotFound, fwName)
	err = d.download(ctx, fwName)
	wantErr(t, err, trust.ErrTargetNotFound, fwName)
	d.untouched(t, "acme.json")
}

// A refresh when nothing changed fetches the timestamp only, plus the
// probe for a next root version the specification requires (5.3.2).
func TestRefreshUnchangedFetchesOnlyTimestamp(t *testing.T) {
	repo := trusttest.New(t, release.InitOptions{})
	ctx := context.Background()
	if err := repo.Release.Delegate(ctx, release.Delegation{Role: "acme", Paths: []string{"acme/*"}}); err != nil {
		t.Fatal(err)
	}
	repo.Add("acme/router.bin", []byte("acme image"), fwMeta, "acme")
	repo.Add(fwName, fwImage, fwMeta, "")
	repo.Publish()
	d := newDevice(t, repo)
	s, err := d.client.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Targets(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()

	repo.ResetRequests()
	s, err = d.client.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Targets(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"/metadata/2.root.json", "/metadata/timestamp.json"}
	if diff := cmp.Diff(want, repo.Requests()); diff != "" {
		t.Errorf("requests of an unchanged refresh (-want +got):\n%s", diff)
	}
}

// The attacks above must not depend on a slow attacker: every download
// and refresh is bounded by its context too.
func TestDownloadHonoursContext(t *testing.T) {
	repo := published(t, release.InitOptions{})
	d := newDevice(t, repo)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := d.client.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tg, err := s.Target(ctx, fwName)
	if err != nil {
		t.Fatal(err)
	}
	repo.Serve("/targets/"+tg.RemotePath(), func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("a"))
		w.(http.Flusher).Flush()
		cancel()
		<-r.Context().Done()
	})
	err = d.client.Download(ctx, tg, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Download after cancel = %v, want context.Canceled", err)
	}
}

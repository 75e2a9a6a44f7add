package trust_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/trust"
	"patchbay.dev/firmware/trust/trusttest"
	"patchbay.dev/firmware/version"
	"patchbay.dev/tools/release"
)

func targetOf(data []byte) trust.Target {
	s256, s512 := sha256.Sum256(data), sha512.Sum512(data)
	return trust.Target{Name: "t.bin", Length: int64(len(data)), Hashes: map[string][]byte{"sha256": s256[:], "sha512": s512[:]}}
}

func TestVerifier(t *testing.T) {
	good := []byte("the signed image")
	tests := []struct {
		name   string
		target trust.Target
		chunks []string
		write  error // wanted from Write (as a type)
		verify error
	}{
		{name: "exact", target: targetOf(good), chunks: []string{"the signed", " image"}},
		{name: "short", target: targetOf(good), chunks: []string{"the signed"}, verify: &trust.LengthError{}},
		{name: "long", target: targetOf(good), chunks: []string{"the signed image", "!"}, write: &trust.LengthError{}},
		{name: "changed byte", target: targetOf(good), chunks: []string{"the signed imagE"}, verify: &trust.HashMismatchError{}},
		{
			name: "only sha512 wrong", chunks: []string{"the signed image"}, verify: &trust.HashMismatchError{},
			target: func() trust.Target {
				tg := targetOf(good)
				tg.Hashes["sha512"] = bytes.Repeat([]byte{1}, 64)
				return tg
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := trust.NewVerifier(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			var werr error
			for _, c := range tt.chunks {
				if _, werr = v.Write([]byte(c)); werr != nil {
					break
				}
			}
			checkErrType(t, "Write", werr, tt.write)
			if tt.write == nil {
				checkErrType(t, "Verify", v.Verify(), tt.verify)
			}
		})
	}
}

func checkErrType(t *testing.T, what string, got, want error) {
	t.Helper()
	switch want.(type) {
	case nil:
		if got != nil {
			t.Errorf("%s = %v, want nil", what, got)
		}
	case *trust.LengthError:
		var le *trust.LengthError
		if !errors.As(got, &le) {
			t.Errorf("%s = %v, want *LengthError", what, got)
		}
	case *trust.HashMismatchError:
		var he *trust.HashMismatchError
		if !errors.As(got, &he) {
			t.Errorf("%s = %v, want *HashMismatchError", what, got)
		}
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	if _, err := trust.NewVerifier(trust.Target{Name: "x", Length: 1}); err == nil {
		t.Error("NewVerifier(no hashes) = nil error")
	}
	tg := targetOf([]byte("x"))
	tg.Hashes["md5"] = []byte{1}
	if _, err := trust.NewVerifier(tg); !errors.Is(err, trust.ErrUnsupportedHash) {
		t.Errorf("NewVerifier(md5) = %v, want ErrUnsupportedHash", err)
	}
}

func withMeta(name string, m meta.Target) trust.Target {
	tg := targetOf([]byte(name))
	tg.Name, tg.Meta = name, &m
	return tg
}

func TestCheck(t *testing.T) {
	fw := meta.Target{Kind: meta.KindFirmware, Boards: []string{"b1", "b2"}, Version: "2.0.0", MinVersion: "1.5.0"}
	down := fw
	down.Version, down.AllowDowngrade, down.MinVersion = "1.9.0", true, ""
	dev := trust.Device{Board: "b1", Kind: meta.KindFirmware, Installed: "1.8.0", Scheme: version.Semver}
	tests := []struct {
		name   string
		target trust.Target
		device func(d trust.Device) trust.Device
		want   error
	}{
		{"upgrade", withMeta("fw", fw), nil, nil},
		{"second board", withMeta("fw", fw), func(d trust.Device) trust.Device { d.Board = "b2"; return d }, nil},
		{"wrong board", withMeta("fw", fw), func(d trust.Device) trust.Device { d.Board = "b3"; return d }, trust.ErrWrongBoard},
		{"wrong kind", withMeta("fw", fw), func(d trust.Device) trust.Device { d.Kind = meta.KindApp; return d }, trust.ErrWrongKind},
		{"any kind", withMeta("fw", fw), func(d trust.Device) trust.Device { d.Kind = ""; return d }, nil},
		{"same version", withMeta("fw", fw), func(d trust.Device) trust.Device { d.Installed = "2.0.0"; return d }, trust.ErrNotNewer},
		{"downgrade", withMeta("fw", fw), func(d trust.Device) trust.Device { d.Installed = "2.1.0"; return d }, trust.ErrDowngrade},
		{"signed downgrade", withMeta("down", down), func(d trust.Device) trust.Device { d.Installed = "2.1.0"; return d }, nil},
		{"below min_version", withMeta("fw", fw), func(d trust.Device) trust.Device { d.Installed = "1.4.9"; return d }, trust.ErrBelowMinVersion},
		{"unknown installed with min_version", withMeta("fw", fw), func(d trust.Device) trust.Device { d.Installed = ""; return d }, trust.ErrBelowMinVersion},
		{"unknown installed", withMeta("down", down), func(d trust.Device) trust.Device { d.Installed = ""; return d }, nil},
		{"no metadata", targetOf([]byte("x")), nil, trust.ErrNoMetadata},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dev
			if tt.device != nil {
				d = tt.device(d)
			}
			err := trust.Check(tt.target, d)
			if tt.want == nil {
				if err != nil {
					t.Errorf("Check = %v, want nil", err)
				}
				return
			}
			var re *trust.RejectedError
			if !errors.Is(err, tt.want) || !errors.As(err, &re) {
				t.Errorf("Check = %v, want a *RejectedError wrapping %v", err, tt.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	mk := func(name, ver string, sev string) trust.Target {
		m := meta.Target{Kind: meta.KindFirmware, Boards: []string{"b1"}, Version: ver}
		if sev == "high" {
			m.CVSS = "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"
		}
		return withMeta(name, m)
	}
	all := []trust.Target{mk("a", "23.05.2", ""), mk("b", "23.05.4", ""), mk("c", "23.05.3", "high"), mk("d", "22.03.7", "high")}
	dev := trust.Device{Board: "b1", Installed: "23.05.2", Scheme: version.Dotted}
	tests := []struct {
		name   string
		policy trust.Policy
		want   string
		err    error
	}{
		{"newest", nil, "b", nil},
		{"policy: only severe", func(t trust.Target) error {
			if t.Meta.Severity().Rank() < meta.SeverityHigh.Rank() {
				return errors.New("not severe enough")
			}
			return nil
		}, "c", nil},
		{"policy refuses all", func(trust.Target) error { return errors.New("outside window") }, "", trust.ErrNoUpdate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := trust.Select(all, dev, tt.policy)
			if !errors.Is(err, tt.err) || got.Name != tt.want {
				t.Errorf("Select = %q, %v; want %q, %v", got.Name, err, tt.want, tt.err)
			}
		})
	}
}

// rangeLog records the Range header of each request for a path.
type rangeLog struct{ ranges []string }

func TestDownloadFileResumes(t *testing.T) {
	for _, ignoreRange := range []bool{false, true} {
		name := "range honoured"
		if ignoreRange {
			name = "server ignores range"
		}
		t.Run(name, func(t *testing.T) {
			repo := published(t, release.InitOptions{})
			d := newDevice(t, repo)
			ctx := context.Background()
			s, err := d.client.Refresh(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			tg, err := s.Target(ctx, fwName)
			if err != nil {
				t.Fatal(err)
			}
			var log rangeLog
			file := filepath.Join(repo.Layout.Public(), "targets", filepath.FromSlash(tg.RemotePath()))
			repo.Serve("/targets/"+tg.RemotePath(), func(w http.ResponseWriter, r *http.Request) {
				log.ranges = append(log.ranges, r.Header.Get("Range"))
				if ignoreRange {
					r.Header.Del("Range")
				}
				http.ServeFile(w, r, file)
			})
			// An earlier attempt stopped after 1000 bytes.
			dst := filepath.Join(d.targets, "fw.bin")
			os.MkdirAll(d.targets, 0o755)
			part := filepath.Join(d.targets, ".fw.bin."+hex.EncodeToString(tg.Hashes["sha256"][:8])+".part")
			if err := os.WriteFile(part, fwImage[:1000], 0o644); err != nil {
				t.Fatal(err)
			}
			if err := d.client.DownloadFile(ctx, tg, dst); err != nil {
				t.Fatalf("DownloadFile: %v", err)
			}
			got, _ := os.ReadFile(dst)
			if !bytes.Equal(got, fwImage) {
				t.Fatal("resumed file differs from the image")
			}
			if diff := cmp.Diff([]string{"bytes=1000-"}, log.ranges); diff != "" {
				t.Errorf("Range headers (-want +got):\n%s", diff)
			}
			if _, err := os.Stat(part); !os.IsNotExist(err) {
				t.Errorf("partial file left behind: %v", err)
			}
			// A verified copy is not fetched again.
			log.ranges = nil
			if err := d.client.DownloadFile(ctx, tg, dst); err != nil || len(log.ranges) != 0 {
				t.Errorf("second DownloadFile = %v with %d requests, want nil and none", err, len(log.ranges))
			}
		})
	}
}

func TestResumeWithPrefix(t *testing.T) {
	repo := published(t, release.InitOptions{})
	d := newDevice(t, repo)
	ctx := context.Background()
	s, err := d.client.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tg, _ := s.Target(ctx, fwName)
	var rest bytes.Buffer
	if err := d.client.Resume(ctx, tg, &rest, bytes.NewReader(fwImage[:5000])); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if !bytes.Equal(rest.Bytes(), fwImage[5000:]) {
		t.Errorf("Resume wrote %d bytes, want the %d after the prefix", rest.Len(), len(fwImage)-5000)
	}
	// A wrong prefix is caught at the end.
	bad := append([]byte("X"), fwImage[1:5000]...)
	var he *trust.HashMismatchError
	if err := d.client.Resume(ctx, tg, &rest, bytes.NewReader(bad)); !errors.As(err, &he) {
		t.Errorf("Resume(bad prefix) = %v, want *HashMismatchError", err)
	}
}

// The flash tool works offline from a copy of a published repository.
func TestOfflineFromDirectory(t *testing.T) {
	repo := published(t, release.InitOptions{})
	usb := t.TempDir()
	copyDir(t, repo.Layout.Public(), usb)
	repo.Server.Close() // no network from here on

	dir := t.TempDir()
	mdDir := filepath.Join(dir, "metadata")
	if err := trust.Init(mdDir, repo.Root()); err != nil {
		t.Fatal(err)
	}
	c, err := trust.New(trust.Options{
		MetadataDir: mdDir,
		Remote:      &trust.DirRemote{MetadataDir: filepath.Join(usb, "metadata"), TargetsDir: filepath.Join(usb, "targets")},
		Now:         func() time.Time { return trusttest.Epoch.Add(time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := c.Refresh(ctx)
	if err != nil {
		t.Fatalf("Refresh from directory: %v", err)
	}
	all, err := s.Targets(ctx)
	s.Close()
	if err != nil || len(all) != 1 {
		t.Fatalf("Targets = %d, %v", len(all), err)
	}
	dev := trust.Device{Board: board, Kind: meta.KindFirmware, Installed: "22.03.5", Scheme: version.Dotted}
	tg, err := trust.Select(all, dev, nil)
	if err != nil {
		t.Fatalf("Select: %v", err)
	}
	if err := c.DownloadFile(ctx, tg, filepath.Join(dir, "image.bin")); err != nil {
		t.Fatalf("DownloadFile: %v", err)
	}

	// Later, with no remote at all, the cached metadata still answers.
	c2, err := trust.New(trust.Options{MetadataDir: mdDir, Now: func() time.Time { return trusttest.Epoch.Add(2 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := c2.Cached(ctx)
	if err != nil {
		t.Fatalf("Cached: %v", err)
	}
	defer cs.Close()
	if _, err := cs.Target(ctx, fwName); err != nil {
		t.Errorf("Cached Target: %v", err)
	}
	if _, err := c2.Refresh(ctx); !errors.Is(err, trust.ErrOffline) {
		t.Errorf("Refresh without remote = %v, want ErrOffline", err)
	}
	// …and refuses once it has expired.
	c3, _ := trust.New(trust.Options{MetadataDir: mdDir, Now: func() time.Time { return trusttest.Epoch.Add(48 * time.Hour) }})
	if _, err := c3.Cached(ctx); err == nil {
		t.Error("Cached with expired metadata = nil error")
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMetadataDirHoldsOnlyRoleFiles(t *testing.T) {
	repo := trusttest.New(t, release.InitOptions{})
	ctx := context.Background()
	if err := repo.Release.Delegate(ctx, release.Delegation{Role: "acme", Paths: []string{"acme/*"}}); err != nil {
		t.Fatal(err)
	}
	repo.Add("acme/a.bin", []byte("a"), fwMeta, "acme")
	repo.Publish()
	if _, err := repo.Release.Rotate(ctx, release.Rotation{Role: "root"}); err != nil {
		t.Fatal(err)
	}
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
	var names []string
	for name := range trusttest.Dir(t, d.meta) {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{"acme.json", "root.json", "snapshot.json", "targets.json", "timestamp.json"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("metadata directory (-want +got):\n%s", diff)
	}
	parent, _ := os.ReadDir(filepath.Dir(d.meta))
	for _, e := range parent {
		if strings.Contains(e.Name(), "staging") {
			t.Errorf("staging directory left behind: %s", e.Name())
		}
	}
	if v := s.Versions()["root"]; v != 2 {
		t.Errorf("root version %d, want 2", v)
	}
}

func TestTargetNotFound(t *testing.T) {
	repo := published(t, release.InitOptions{})
	d := newDevice(t, repo)
	s, err := d.client.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Target(context.Background(), "no/such.bin"); !errors.Is(err, trust.ErrTargetNotFound) {
		t.Errorf("Target(missing) = %v, want ErrTargetNotFound (did go-tuf change its message?)", err)
	}
}

func TestNewAndInitErrors(t *testing.T) {
	if _, err := trust.New(trust.Options{MetadataDir: t.TempDir()}); !errors.Is(err, trust.ErrNotInitialized) {
		t.Errorf("New(empty dir) = %v, want ErrNotInitialized", err)
	}
	repo := trusttest.New(t, release.InitOptions{})
	repo.Publish()
	root := repo.Root()
	tampered := bytes.Replace(root, []byte(`"consistent_snapshot": true`), []byte(`"consistent_snapshot": false`), 1)
	if bytes.Equal(tampered, root) {
		t.Fatal("test root has no consistent_snapshot field to change")
	}
	if err := trust.Init(t.TempDir(), tampered); err == nil || !strings.Contains(err.Error(), "not signed by its own keys") {
		t.Errorf("Init(tampered root) = %v, want a signature error", err)
	}
	if err := trust.Init(t.TempDir(), []byte(`{"signed":{"_type":"targets"}}`)); err == nil {
		t.Error("Init(not a root) = nil error")
	}
}

func TestHTTPRemoteErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := (&trust.HTTPRemote{MetadataURL: "http://127.0.0.1:1"}).Metadata(ctx, "root.json"); err == nil {
		t.Error("HTTPRemote without Client = nil error")
	}
	repo := published(t, release.InitOptions{})
	r := repo.Remote()
	var fe *trust.FetchError
	if _, err := r.Metadata(ctx, "99.root.json"); !errors.Is(err, trust.ErrNotFound) || !errors.As(err, &fe) || fe.Status != 404 {
		t.Errorf("Metadata(missing) = %v, want a 404 *FetchError wrapping ErrNotFound", err)
	}
	if _, err := r.Metadata(ctx, "../keys/root.pem"); err == nil {
		t.Error("Metadata(../…) = nil error")
	}
	dr := &trust.DirRemote{MetadataDir: filepath.Join(repo.Layout.Public(), "metadata"), TargetsDir: filepath.Join(repo.Layout.Public(), "targets")}
	if _, err := dr.Target(ctx, "../../patchbay-release.json", 0); err == nil || errors.Is(err, trust.ErrNotFound) {
		t.Errorf("DirRemote.Target(../…) = %v, want an error for leaving the directory", err)
	}
}

type refusingTransport struct{ t *testing.T }

func (rt refusingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.t.Errorf("http.DefaultTransport used for %s", r.URL)
	return nil, errors.New("http.DefaultTransport must not be used")
}

// The client brings its own transport: a program that changes
// http.DefaultTransport (as go-tuf's round-tripper helper does) cannot
// change how devices fetch updates.
func TestNeverUsesDefaultTransport(t *testing.T) {
	repo := published(t, release.InitOptions{})
	saved := http.DefaultTransport
	http.DefaultTransport = refusingTransport{t}
	defer func() { http.DefaultTransport = saved }()
	d := newDevice(t, repo)
	if err := d.download(context.Background(), fwName); err != nil {
		t.Fatalf("download: %v", err)
	}
}

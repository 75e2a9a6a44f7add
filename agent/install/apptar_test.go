package install

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// tarEntry is one entry of a test archive.
type tarEntry struct {
	name string
	typ  byte
	body string
	link string
	mode int64
}

func file(name, body string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeReg, body: body, mode: 0o644}
}
func dir(name string) tarEntry { return tarEntry{name: name, typ: tar.TypeDir, mode: 0o755} }
func link(name, to string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeSymlink, link: to, mode: 0o777}
}

func makeTar(t testing.TB, compress bool, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w = &buf
	var gz *gzip.Writer
	tw := tar.NewWriter(w)
	if compress {
		gz = gzip.NewWriter(w)
		tw = tar.NewWriter(gz)
	}
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// archiveCases are shared by the table test and the fuzz target's seeds.
var archiveCases = []struct {
	name    string
	gz      bool
	entries []tarEntry
	reason  Reason // "": unpacks
}{
	{"plain", false, []tarEntry{dir("bin"), file("bin/app", "#!/bin/sh\n"), file("./etc/app.conf", "x=1"), link("lib", "bin")}, ""},
	{"gzip", true, []tarEntry{file("app", "x"), link("bin/app", "../app")}, ""},
	{"setuid dropped", false, []tarEntry{{name: "su", typ: tar.TypeReg, body: "x", mode: 0o4777}}, ""},
	{"parent traversal", false, []tarEntry{file("../evil", "x")}, ReasonAppInvalid},
	{"inner traversal", false, []tarEntry{file("a/../../evil", "x")}, ReasonAppInvalid},
	{"absolute name", false, []tarEntry{file("/etc/passwd", "x")}, ReasonAppInvalid},
	{"backslash", false, []tarEntry{file(`a\..\b`, "x")}, ReasonAppInvalid},
	{"symlink out", false, []tarEntry{link("out", "../../etc")}, ReasonAppInvalid},
	{"absolute symlink", false, []tarEntry{link("passwd", "/etc/passwd")}, ReasonAppInvalid},
	{"file through an escaping symlink", false, []tarEntry{link("d", "."), file("d/../../x", "x")}, ReasonAppInvalid},
	{"hard link", false, []tarEntry{file("a", "x"), {name: "b", typ: tar.TypeLink, link: "a"}}, ReasonAppInvalid},
	{"device", false, []tarEntry{{name: "dev", typ: tar.TypeChar}}, ReasonAppInvalid},
	{"fifo", false, []tarEntry{{name: "p", typ: tar.TypeFifo}}, ReasonAppInvalid},
	{"duplicate", false, []tarEntry{file("a", "x"), file("a", "y")}, ReasonAppInvalid},
	{"file over a directory", false, []tarEntry{dir("a"), file("a", "y")}, ReasonAppInvalid},
	{"empty archive", false, nil, ReasonAppInvalid},
	{"too large", false, []tarEntry{file("big", string(make([]byte, 5000)))}, ReasonTooLarge},
}

func TestExtractApp(t *testing.T) {
	for _, tt := range archiveCases {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			archive := filepath.Join(base, "app.tar")
			if err := os.WriteFile(archive, makeTar(t, tt.gz, tt.entries...), 0o600); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(base, "v", "1")
			os.MkdirAll(filepath.Dir(dest), 0o755)
			err := extractApp(t.Context(), archive, dest, 4096)
			reason, _ := classify(err, "")
			switch {
			case tt.reason == "" && err != nil:
				t.Fatalf("extractApp = %v", err)
			case tt.reason != "" && reason != tt.reason:
				t.Fatalf("extractApp = %v (reason %s), want reason %s", err, reason, tt.reason)
			}
			onlyInside(t, base, "app.tar", "v")
			if tt.reason != "" {
				return
			}
			for _, e := range tt.entries {
				fi, err := os.Lstat(filepath.Join(dest, e.name))
				if err != nil {
					t.Errorf("%s not unpacked: %v", e.name, err)
					continue
				}
				if fi.Mode()&os.ModeSymlink == 0 && fi.Mode()&(os.ModeSetuid|os.ModeSetgid|0o022) != 0 {
					t.Errorf("%s unpacked with mode %v", e.name, fi.Mode())
				}
			}
		})
	}
}

// onlyInside fails if base holds anything but the names given.
func onlyInside(t *testing.T, base string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		found := false
		for _, n := range names {
			found = found || e.Name() == n
		}
		if !found {
			t.Errorf("unpacking created %s outside its directory", filepath.Join(base, e.Name()))
		}
	}
}

func FuzzExtractApp(f *testing.F) {
	for _, tt := range archiveCases {
		f.Add(makeTar(f, tt.gz, tt.entries...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		archive := filepath.Join(base, "app.tar")
		if err := os.WriteFile(archive, data, 0o600); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(base, "v", "1")
		os.MkdirAll(filepath.Dir(dest), 0o755)
		err := extractApp(t.Context(), archive, dest, 1<<20)
		var f *failure
		if err != nil && !errors.As(err, &f) {
			t.Fatalf("extractApp error without a reason: %v", err)
		}
		onlyInside(t, base, "app.tar", "v")
	})
}

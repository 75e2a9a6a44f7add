package boards_test

import (
	"os"
	"path/filepath"
	"testing"

	"patchbay.dev/boards"
)

// FuzzParseProfile feeds arbitrary bytes to the profile loader: it must
// return a profile or errors, never panic, and a profile it returns must
// be usable.
func FuzzParseProfile(f *testing.F) {
	f.Add([]byte(valid))
	for _, tt := range profileErrorTests {
		f.Add([]byte(tt.yaml))
	}
	files, _ := filepath.Glob("profiles/*.yaml")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := boards.ParseProfile("fuzz.yaml", data)
		if err != nil {
			return
		}
		if p.ID == "" || len(p.Version.Sources) == 0 || p.Boot.Loader == "" || p.Reboot.Method == "" {
			t.Fatalf("ParseProfile() accepted an incomplete profile: %+v", p)
		}
		_ = p.Version.Scheme.Valid("1.0")
		for _, s := range p.Version.Sources {
			_, _ = s.Extract("1.0")
		}
		if _, err := boards.NewSet(p); err != nil {
			t.Fatal(err)
		}
	})
}

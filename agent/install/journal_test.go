package install

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/firmware/meta"
)

const sum0 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func sampleJournal() *Journal {
	return &Journal{
		Version: JournalVersion, ID: "9f2c", Kind: meta.KindFirmware, State: StateDownloading,
		Attempts:    map[State]int{StateDownloading: 2},
		Target:      TargetRef{Name: "fw/sim-1.0.3.bin", Version: "1.0.3", Length: 1 << 20, SHA256: sum0},
		FromVersion: "1.0.2", FromSlot: "A", ToSlot: "B", Written: 1 << 19,
		Started: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), Updated: time.Date(2030, 1, 2, 3, 5, 0, 0, time.UTC),
	}
}

// journalTexts are journals as they are stored, shared by the decoder's
// tests and its fuzz target's seeds.
var journalTexts = []struct {
	name string
	text string
	err  error // nil: decodes
}{
	{"firmware downloading", `{"version":1,"id":"9f2c","kind":"firmware","state":"downloading","attempts":{"downloading":2},
	  "target":{"name":"fw/sim-1.0.3.bin","version":"1.0.3","length":1048576,"sha256":"` + sum0 + `"},
	  "from_version":"1.0.2","from_slot":"A","to_slot":"B","written":524288,
	  "started":"2030-01-02T03:04:05Z","updated":"2030-01-02T03:05:00Z"}`, nil},
	{"app trial", `{"version":1,"id":"1","kind":"app","state":"trial","target":{"name":"apps/x/x.tar","version":"2","length":10,"sha256":"` + sum0 + `"},
	  "written":10,"app":{"name":"x","previous":"1"},"started":"2030-01-02T03:04:05Z","updated":"2030-01-02T03:04:05Z"}`, nil},
	{"refused target of unknown kind", `{"version":1,"id":"1","kind":"","state":"failed","reason":"wrong-kind","target":{"name":"x","version":"","length":0,"sha256":""},
	  "written":0,"started":"2030-01-02T03:04:05Z","updated":"2030-01-02T03:04:05Z"}`, nil},
	{"newer version", `{"version":2,"whatever":true}`, ErrJournalVersion},
	{"no version", `{"id":"1"}`, ErrJournalCorrupt},
	{"torn", `{"version":1,"id":"9f2c","kind":"firmware","state":"downl`, ErrJournalCorrupt},
	{"unknown field", `{"version":1,"id":"1","kind":"app","state":"idle","target":{"name":"a/x/y","length":1,"sha256":"` + sum0 + `"},"app":{"name":"x"},"colour":"red"}`, ErrJournalCorrupt},
	{"unknown state", `{"version":1,"id":"1","kind":"firmware","state":"flashing","target":{"name":"x","length":1,"sha256":"` + sum0 + `"},"from_slot":"A","to_slot":"B"}`, ErrJournalCorrupt},
	{"written past the end", `{"version":1,"id":"1","kind":"firmware","state":"downloading","target":{"name":"x","length":1,"sha256":"` + sum0 + `"},"from_slot":"A","to_slot":"B","written":2}`, ErrJournalCorrupt},
	{"same slot twice", `{"version":1,"id":"1","kind":"firmware","state":"trial","target":{"name":"x","length":1,"sha256":"` + sum0 + `"},"from_slot":"A","to_slot":"A"}`, ErrJournalCorrupt},
	{"short hash", `{"version":1,"id":"1","kind":"firmware","state":"trial","target":{"name":"x","length":1,"sha256":"0011"},"from_slot":"A","to_slot":"B"}`, ErrJournalCorrupt},
	{"trailing data", `{"version":1,"id":"1","kind":"app","state":"idle","target":{"name":"a/x/y","length":1,"sha256":"` + sum0 + `"},"app":{"name":"x"}} {}`, ErrJournalCorrupt},
	{"empty", ``, ErrJournalCorrupt},
}

func TestDecodeJournal(t *testing.T) {
	for _, tt := range journalTexts {
		t.Run(tt.name, func(t *testing.T) {
			j, err := DecodeJournal([]byte(tt.text))
			if tt.err == nil && err != nil {
				t.Fatalf("DecodeJournal = %v", err)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("DecodeJournal = %+v, %v; want %v", j, err, tt.err)
			}
		})
	}
}

func TestJournalRoundTrip(t *testing.T) {
	f := journalFile{dir: t.TempDir()}
	if j, err := f.load(); j != nil || err != nil {
		t.Fatalf("load of no journal = %v, %v; want nil, nil", j, err)
	}
	want := sampleJournal()
	if err := f.save(want); err != nil {
		t.Fatal(err)
	}
	got, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("journal round trip (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(f.dir)
	if len(entries) != 1 {
		t.Errorf("state directory holds %d files after a save, want only %s", len(entries), JournalFile)
	}
}

func TestJournalLeftoversAndCorruption(t *testing.T) {
	f := journalFile{dir: t.TempDir()}
	if err := f.save(sampleJournal()); err != nil {
		t.Fatal(err)
	}
	// A power cut during the next save leaves a torn temporary file.
	torn := filepath.Join(f.dir, journalTempPrefix+"123")
	if err := os.WriteFile(torn, []byte(`{"version":1,"id":"9f`), 0o600); err != nil {
		t.Fatal(err)
	}
	if j, err := f.load(); err != nil || j.State != StateDownloading {
		t.Fatalf("load beside a torn temporary file = %v, %v", j, err)
	}
	if err := f.removeTemps(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(torn); !os.IsNotExist(err) {
		t.Errorf("torn temporary file still there: %v", err)
	}
	if err := os.WriteFile(f.path(), []byte("\x00\x00garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.load(); !errors.Is(err, ErrJournalCorrupt) {
		t.Fatalf("load of garbage = %v, want ErrJournalCorrupt", err)
	}
	aside, err := f.setAside(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil || !strings.HasSuffix(aside, ".corrupt-20300102T030405Z") {
		t.Fatalf("setAside = %q, %v", aside, err)
	}
	if j, err := f.load(); j != nil || err != nil {
		t.Errorf("load after setAside = %v, %v; want no journal", j, err)
	}
}

func FuzzDecodeJournal(f *testing.F) {
	for _, tt := range journalTexts {
		f.Add([]byte(tt.text))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := DecodeJournal(data)
		if err != nil {
			if !errors.Is(err, ErrJournalCorrupt) && !errors.Is(err, ErrJournalVersion) {
				t.Fatalf("DecodeJournal error %v wraps neither ErrJournalCorrupt nor ErrJournalVersion", err)
			}
			return
		}
		if err := j.validate(); err != nil {
			t.Fatalf("decoded journal does not validate: %v", err)
		}
	})
}

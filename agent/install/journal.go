package install

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"patchbay.dev/firmware/atomicfile"
	"path/filepath"
	"time"

	"patchbay.dev/firmware/meta"
)

// JournalVersion is the version of the journal format this package reads
// and writes. A journal of a later version (a newer agent wrote it, then
// was downgraded) is refused with ErrJournalVersion rather than misread.
const JournalVersion = 1

// JournalFile is the journal's name in the state directory.
const JournalFile = "install.json"

// ErrJournalVersion is wrapped when the journal was written by a newer
// agent.
var ErrJournalVersion = errors.New("journal written by a newer agent")

// ErrJournalCorrupt is wrapped when the journal does not decode.
var ErrJournalCorrupt = errors.New("journal corrupt")

// Journal is the persisted state of the one update a device runs at a
// time. It is written before every transition takes effect.
type Journal struct {
	Version int       `json:"version"`
	ID      string    `json:"id"`
	Kind    meta.Kind `json:"kind"`
	State   State     `json:"state"`
	// Attempts counts how often the work of each state was started. A
	// download's count restarts at its last checkpoint.
	Attempts    map[State]int `json:"attempts,omitempty"`
	Target      TargetRef     `json:"target"`
	FromVersion string        `json:"from_version,omitempty"`
	// FromSlot and ToSlot name the running and the written slot (firmware).
	FromSlot string `json:"from_slot,omitempty"`
	ToSlot   string `json:"to_slot,omitempty"`
	// Written is the download checkpoint: this many bytes of the image
	// are durable in the slot.
	Written int64       `json:"written"`
	App     *AppJournal `json:"app,omitempty"`
	Reason  Reason      `json:"reason,omitempty"`
	Detail  string      `json:"detail,omitempty"`
	// Reported is set once the final outcome was handed to the reporter.
	Reported bool      `json:"reported,omitempty"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
}

// TargetRef is what the journal keeps of the signed target.
type TargetRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Length  int64  `json:"length"`
	SHA256  string `json:"sha256"` // hex
}

// AppJournal is the part of the journal only app updates have.
type AppJournal struct {
	Name string `json:"name"`
	// Previous is the version "current" pointed to before the switch; ""
	// if the app was not installed.
	Previous string `json:"previous,omitempty"`
}

// Outcome returns the journal as an Outcome.
func (j *Journal) Outcome() Outcome {
	return Outcome{ID: j.ID, Kind: j.Kind, Target: j.Target.Name, Version: j.Target.Version,
		FromVersion: j.FromVersion, State: j.State, Reason: j.Reason, Detail: j.Detail}
}

func (j *Journal) sum() []byte {
	b, _ := hex.DecodeString(j.Target.SHA256) // checked by validate
	return b
}

// DecodeJournal parses a journal strictly: unknown fields, unknown states
// and missing fields are errors wrapping ErrJournalCorrupt; a later
// version is ErrJournalVersion.
func DecodeJournal(data []byte) (*Journal, error) {
	var head struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJournalCorrupt, err)
	}
	if head.Version > JournalVersion {
		return nil, fmt.Errorf("%w: version %d, this agent reads up to %d", ErrJournalVersion, head.Version, JournalVersion)
	}
	if head.Version < 1 {
		return nil, fmt.Errorf("%w: version %d", ErrJournalCorrupt, head.Version)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j Journal
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJournalCorrupt, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the journal object", ErrJournalCorrupt)
	}
	if err := j.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJournalCorrupt, err)
	}
	return &j, nil
}

func (j *Journal) validate() error {
	table, err := tableFor(j.Kind)
	switch {
	case err != nil && j.State != StateFailed:
		// Only a target refused before it started may lack a known kind.
		return err
	case err != nil:
		table = firmwareTable
	}
	if _, ok := table[j.State]; !ok {
		return fmt.Errorf("state %q is not a %s state", j.State, j.Kind)
	}
	for s, n := range j.Attempts {
		if _, ok := table[s]; !ok || n < 0 {
			return fmt.Errorf("attempts of %q: not a state, or negative", s)
		}
	}
	begun := j.State != StateIdle && j.State != StateFailed
	if sum, err := hex.DecodeString(j.Target.SHA256); begun && (err != nil || len(sum) != 32) {
		return fmt.Errorf("target.sha256 %q is not a hex SHA-256", j.Target.SHA256)
	}
	switch {
	case j.ID == "":
		return errors.New("no id")
	case j.Target.Name == "":
		return errors.New("no target.name")
	case j.Target.Length < 0 || j.Written < 0 || j.Written > j.Target.Length:
		return fmt.Errorf("written %d of target.length %d", j.Written, j.Target.Length)
	case begun && j.Kind == meta.KindFirmware && (j.FromSlot == "" || j.ToSlot == "" || j.FromSlot == j.ToSlot):
		return fmt.Errorf("from_slot %q and to_slot %q must name the two slots", j.FromSlot, j.ToSlot)
	case begun && j.Kind == meta.KindApp && (j.App == nil || j.App.Name == ""):
		return errors.New("app update without app.name")
	}
	return nil
}

// journalFile is the journal on disk.
type journalFile struct {
	dir string
}

func (f journalFile) path() string { return filepath.Join(f.dir, JournalFile) }

const journalTempPrefix = "." + JournalFile + ".tmp-"

// load reads the journal; nil without error if there is none.
func (f journalFile) load() (*Journal, error) {
	data, err := os.ReadFile(f.path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	j, err := DecodeJournal(data)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", f.path(), err)
	}
	return j, nil
}

// save replaces the journal so that a power cut leaves the old or the new
// one: write a temporary file, fsync, rename, fsync the directory.
func (f journalFile) save(j *Journal) error {
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return fmt.Errorf("encode journal: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(f.dir, JournalFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}

// setAside renames a journal that cannot be read, so that a new update
// can start and the old one stays for people to look at.
func (f journalFile) setAside(now time.Time) (string, error) {
	aside := f.path() + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	if err := os.Rename(f.path(), aside); err != nil {
		return "", fmt.Errorf("set corrupt journal aside: %w", err)
	}
	return aside, atomicfile.SyncDir(f.dir)
}

// removeTemps deletes temporary files a power cut left behind.
func (f journalFile) removeTemps() error {
	if err := removeTemps(f.dir, journalTempPrefix); err != nil {
		return fmt.Errorf("remove leftover journal files: %w", err)
	}
	return nil
}

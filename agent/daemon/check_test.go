package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/install"
	"patchbay.dev/boards"
	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/trust"
)

// A target the device rolled back is not chosen again: the device would go
// through the same failing trial on every start and every refresh.
func TestApproveRefusesRolledBackTarget(t *testing.T) {
	bad := target("fw/23.05.3.img", "bad image")
	rebuilt := target("fw/23.05.3.img", "rebuilt image")
	newer := target("fw/23.05.4.img", "next image")
	tests := []struct {
		name    string
		journal string // state of the last update, of bad; "" for none
		t       trust.Target
		ok      bool
	}{
		{"no update yet", "", bad, true},
		{"rolled back", "rolled-back", bad, false},
		{"rolled back, signed again with other bytes", "rolled-back", rebuilt, true},
		{"rolled back, another target", "rolled-back", newer, true},
		{"committed", "committed", bad, true},
		{"failed before switching", "failed", bad, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.journal != "" {
				writeJournal(t, dir, tt.journal, bad)
			}
			e, err := install.New(install.Options{Dir: dir, Board: &boards.Profile{ID: "openwrt-ath79-generic"}})
			if err != nil {
				t.Fatal(err)
			}
			cfg := config.Default()
			cfg.Policy.AutoApprove = "high"
			d := &Daemon{cfg: cfg, engine: e}
			err = d.approve(tt.t)
			if (err == nil) != tt.ok {
				t.Errorf("approve(%s) after a %q update = %v, want ok %t", tt.t.Name, tt.journal, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrNotApproved) {
				t.Errorf("approve(%s) = %v, want an error wrapping ErrNotApproved", tt.t.Name, err)
			}
		})
	}
}

func target(name, content string) trust.Target {
	sum := sha256.Sum256([]byte(content))
	return trust.Target{Name: name, Length: int64(len(content)), Hashes: map[string][]byte{"sha256": sum[:]},
		Meta: &meta.Target{Kind: meta.KindFirmware, Boards: []string{"openwrt-ath79-generic"}, Version: "23.05.3",
			CVSS: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}
}

// writeJournal writes the journal of an update of t that ended in state.
func writeJournal(t *testing.T, dir, state string, tg trust.Target) {
	t.Helper()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	j := fmt.Sprintf(`{"version": %d, "id": "0123456789abcdef", "kind": "firmware", "state": %q,
		"target": {"name": %q, "version": "23.05.3", "length": %d, "sha256": %q},
		"from_version": "23.05.2", "from_slot": "A", "to_slot": "B", "written": %d,
		"reason": "health-check-failed:web-ui", "reported": true, "started": %q, "updated": %q}`,
		install.JournalVersion, state, tg.Name, tg.Length, hex.EncodeToString(tg.Hashes["sha256"]), tg.Length, now, now)
	if err := os.WriteFile(filepath.Join(dir, install.JournalFile), []byte(j), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTrialTimeout(t *testing.T) {
	tests := []struct {
		name   string
		checks []install.Check
		want   time.Duration
	}{
		{"no checks: the engine's default", nil, 0},
		{"the sum of the timeouts", []install.Check{{Name: "a", Timeout: 30 * time.Second}, {Name: "b", Timeout: 3 * time.Second}}, 33 * time.Second},
		{"a check without a timeout counts 30s", []install.Check{{Name: "a"}, {Name: "b", Timeout: 2 * time.Minute}}, 150 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trialTimeout(tt.checks); got != tt.want {
				t.Errorf("trialTimeout(%v) = %s, want %s", tt.checks, got, tt.want)
			}
		})
	}
}

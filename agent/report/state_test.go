package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/outbox"
	"patchbay.dev/firmware/buildinfo"
	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/tools/command"
)

func TestBuildState(t *testing.T) {
	cfg := config.Default()
	cfg.DeviceID, cfg.Tenant, cfg.Site, cfg.Tags = device, tenant, "hq", []string{"edge"}
	self := telemetry.Component{ID: "self", Kind: "firmware", Board: "openwrt-ath79-generic", Version: "23.05.2"}
	agentComp := telemetry.Component{ID: "patchbay-agent", Kind: "agent", Version: buildinfo.Version}
	ob := outbox.Stats{LastSeq: 42, Acked: 40, Dropped: 3}
	tests := []struct {
		name      string
		board     string
		inventory []telemetry.Component
		update    telemetry.Update
		wantBoard string
		wantInv   []telemetry.Component
		wantPhase string
	}{
		{"nothing discovered yet", "", nil, telemetry.Update{}, "", []telemetry.Component{agentComp}, PhaseIdle},
		{"board from self", "", []telemetry.Component{self}, telemetry.Update{Phase: "trial"}, self.Board, []telemetry.Component{self, agentComp}, "trial"},
		{"configured board wins", "pinned", []telemetry.Component{self}, telemetry.Update{}, "pinned", []telemetry.Component{self, agentComp}, PhaseIdle},
		{"agent already listed", "", []telemetry.Component{{ID: "a", Kind: "agent", Version: "9"}}, telemetry.Update{}, "", []telemetry.Component{{ID: "a", Kind: "agent", Version: "9"}}, PhaseIdle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.Board = tt.board
			st := BuildState(c, tt.inventory, tt.update, ob, at)
			want := telemetry.State{Schema: telemetry.SchemaVersion, DeviceID: device, Tenant: tenant, Site: "hq", Tags: []string{"edge"},
				Board: tt.wantBoard, AgentVersion: buildinfo.Version, Time: at, Seq: 42, Inventory: tt.wantInv,
				Update: telemetry.Update{Phase: tt.wantPhase}, DroppedEvents: 3}
			if diff := cmp.Diff(want, st); diff != "" {
				t.Errorf("BuildState (-want +got):\n%s", diff)
			}
		})
	}
}

func writeConfig(t *testing.T, stateDir string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.yaml")
	yaml := "device_id: " + device + "\ntenant: " + tenant + "\nsite: hq\nstate_dir: " + stateDir + "\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStateCommand(t *testing.T) {
	stateDir := t.TempDir()
	ob, err := outbox.Open(OutboxDir(stateDir), outbox.MinBytes, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close() // open meanwhile, as when the agent runs
	for range 3 {
		if _, err := ob.Append(t.Context(), telemetry.Event{Time: at, Type: telemetry.EventInfo}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ob.Ack(1); err != nil {
		t.Fatal(err)
	}
	cfgPath := writeConfig(t, "/nonexistent/state")
	run := func(t *testing.T, src StateSources, args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := StateCommandFrom(src).Execute(t.Context(), args, command.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
		return out.String(), err
	}

	out, err := run(t, StateSources{}, "--config", cfgPath, "--state-dir", stateDir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st telemetry.State
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("output is not a JSON state document: %v\n%s", err, out)
	}
	if st.DeviceID != device || st.Tenant != tenant || st.Seq != 3 || st.Update.Phase != PhaseIdle || st.Schema != telemetry.SchemaVersion {
		t.Errorf("state --json = %+v, want device %s, seq 3, phase idle", st, device)
	}

	src := StateSources{
		Inventory: func(_ context.Context, _ config.Config) ([]telemetry.Component, error) {
			return []telemetry.Component{{ID: "self", Kind: "firmware", Board: "openwrt-ath79-generic", Version: "23.05.2"}}, nil
		},
		Update: func(_ context.Context, _ config.Config) (telemetry.Update, error) {
			return telemetry.Update{Phase: "staged", Target: "openwrt-23.05.3.bin"}, nil
		},
	}
	out, err = run(t, src, "--config", cfgPath, "--state-dir", stateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rtr-1 (tenant acme, site hq)", "openwrt-ath79-generic", "staged openwrt-23.05.3.bin", "last seq 3, acknowledged 1, waiting 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("state output lacks %q:\n%s", want, out)
		}
	}

	failing := StateSources{Update: func(context.Context, config.Config) (telemetry.Update, error) {
		return telemetry.Update{}, errors.New("journal unreadable")
	}}
	if _, err := run(t, failing, "--config", cfgPath, "--state-dir", stateDir); err == nil || !strings.Contains(err.Error(), "journal unreadable") {
		t.Errorf("state with a failing source = %v, want its error", err)
	}
	if _, err := run(t, StateSources{}, "--config", cfgPath, "extra"); !errors.Is(err, command.ErrUsage) {
		t.Errorf("state extra = %v, want a usage error", err)
	}
	if _, err := run(t, StateSources{}, "--config", filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("state with a missing config succeeded")
	}
}

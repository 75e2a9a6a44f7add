package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

func testCreateOnFirstState(t *testing.T, s store.Store) {
	st := newState("acme", "rtr-1", at(0))
	mustPutState(t, s, st, at(1))
	want := store.Device{
		Tenant: "acme", ID: "rtr-1", Site: "hq", Tags: []string{"core", "pci"}, Board: "openwrt-ath79-generic",
		Version: "23.05.2", AgentVersion: "1.0.0", LastSeen: at(1), Phase: "idle", State: withSchema(st),
	}
	checkDevice(t, s, want)
	got, err := s.Devices(t.Context(), store.DeviceFilter{})
	if err != nil {
		t.Fatalf("Devices() = %v", err)
	}
	if diff := cmp.Diff([]store.Device{want}, got, cmpOpts...); diff != "" {
		t.Errorf("Devices() (-want +got):\n%s", diff)
	}
	checkStats(t, s, store.Stats{Devices: 1})
}

func testStateOrder(t *testing.T, s store.Store) {
	// Each case puts states of its own device in order; the last put is
	// the one the store must keep, or not.
	type put struct {
		time     time.Time
		site     string
		received time.Time
	}
	tests := []struct {
		name         string
		puts         []put
		wantSite     string
		wantLastSeen time.Time
	}{
		{"newer replaces", []put{{at(0), "hq", at(10)}, {at(1), "branch", at(11)}}, "branch", at(11)},
		{"older ignored", []put{{at(1), "hq", at(10)}, {at(0), "branch", at(11)}}, "hq", at(10)},
		{"redelivered ignored", []put{{at(0), "hq", at(10)}, {at(0), "branch", at(11)}}, "hq", at(10)},
		{"newer by a microsecond", []put{{at(0), "hq", at(10)}, {at(0).Add(time.Microsecond), "branch", at(11)}}, "branch", at(11)},
		{"untimed first", []put{{time.Time{}, "hq", at(10)}, {at(0), "branch", at(11)}}, "branch", at(11)},
		{"untimed after timed ignored", []put{{at(0), "hq", at(10)}, {time.Time{}, "branch", at(11)}}, "hq", at(10)},
		{"late receipt keeps last seen", []put{{at(0), "hq", at(10)}, {at(1), "branch", at(5)}}, "branch", at(10)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			device := "rtr-" + string(rune('a'+i))
			var want telemetry.State
			for _, p := range tt.puts {
				st := newState("acme", device, p.time)
				st.Site = p.site
				st.Tags = []string{p.site}
				mustPutState(t, s, st, p.received)
				if p.site == tt.wantSite {
					want = st
				}
			}
			checkDevice(t, s, store.Device{
				Tenant: "acme", ID: device, Site: tt.wantSite, Tags: []string{tt.wantSite}, Board: want.Board,
				Version: "23.05.2", AgentVersion: want.AgentVersion, LastSeen: tt.wantLastSeen, Phase: "idle",
				State: withSchema(want),
			})
			for _, p := range tt.puts {
				got, err := s.Devices(t.Context(), store.DeviceFilter{Tenant: "acme", Tag: p.site})
				if err != nil {
					t.Fatalf("Devices(tag %s) = %v", p.site, err)
				}
				var ids []string
				for _, d := range got {
					if d.ID == device {
						ids = append(ids, d.ID)
					}
				}
				if found := len(ids) == 1; found != (p.site == tt.wantSite) {
					t.Errorf("Devices(tag %s) lists %s: %v, want %v (tags follow the kept state)", p.site, device, found, !found)
				}
			}
		})
	}

	t.Run("fields follow the state", func(t *testing.T) {
		st := newState("acme", "rtr-fields", at(0))
		mustPutState(t, s, st, at(0))
		st.Time = at(1)
		st.Board = "openwrt-ramips-mt7621"
		st.AgentVersion = "1.1.0"
		st.Tags = nil
		st.Inventory[0].Version = "23.05.3"
		st.Update = telemetry.Update{Phase: "trial", Target: "openwrt-23.05.3", FromVersion: "23.05.2", ToVersion: "23.05.3", Since: at(1)}
		mustPutState(t, s, st, at(2))
		checkDevice(t, s, store.Device{
			Tenant: "acme", ID: "rtr-fields", Site: "hq", Board: "openwrt-ramips-mt7621", Version: "23.05.3",
			AgentVersion: "1.1.0", LastSeen: at(2), Phase: "trial", State: withSchema(st),
		})
	})
}

func testStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	put := func(status string, when time.Time) {
		t.Helper()
		if err := s.PutStatus(ctx, "acme", "rtr-1", status, when); err != nil {
			t.Fatalf("PutStatus(%s, %v) = %v", status, when, err)
		}
	}
	put(store.StatusOnline, at(10)) // before any state: creates the device
	checkDevice(t, s, store.Device{Tenant: "acme", ID: "rtr-1", Status: store.StatusOnline, LastSeen: at(10)})

	put(store.StatusOffline, at(20)) // the broker's last will: the device was not seen
	checkDevice(t, s, store.Device{Tenant: "acme", ID: "rtr-1", Status: store.StatusOffline, LastSeen: at(10)})

	put(store.StatusOnline, at(15)) // older than the stored status
	checkDevice(t, s, store.Device{Tenant: "acme", ID: "rtr-1", Status: store.StatusOffline, LastSeen: at(10)})

	st := newState("acme", "rtr-1", at(0))
	mustPutState(t, s, st, at(5)) // state keeps the status and the later last seen
	want := store.Device{
		Tenant: "acme", ID: "rtr-1", Site: "hq", Tags: []string{"core", "pci"}, Board: "openwrt-ath79-generic",
		Version: "23.05.2", AgentVersion: "1.0.0", Status: store.StatusOffline, LastSeen: at(10), Phase: "idle",
		State: withSchema(st),
	}
	checkDevice(t, s, want)

	put(store.StatusOnline, at(30))
	want.Status, want.LastSeen = store.StatusOnline, at(30)
	checkDevice(t, s, want)
	checkStats(t, s, store.Stats{Devices: 1})
}

// fleet is the devices testFilters and testStats look at.
func fleet() []telemetry.State {
	type dev struct {
		tenant, id, site, board, version string
		tags                             []string
	}
	var out []telemetry.State
	for i, d := range []dev{
		{"globex", "rtr-1", "hq", "openwrt-ath79-generic", "22.03.5", nil},
		{"acme", "sw-1", "branch", "openwrt-ramips-mt7621", "23.05.2", []string{"core"}},
		{"acme", "rtr-2", "hq", "openwrt-ath79-generic", "23.05.3", []string{"edge"}},
		{"acme", "rtr-1", "hq", "openwrt-ath79-generic", "23.05.2", []string{"core", "pci"}},
	} {
		st := newState(d.tenant, d.id, at(i))
		st.Site, st.Board, st.Tags = d.site, d.board, d.tags
		st.Inventory = []telemetry.Component{{ID: "self", Kind: "firmware", Board: d.board, Version: d.version}}
		out = append(out, st)
	}
	return out
}

func testFilters(t *testing.T, s store.Store) {
	for _, st := range fleet() {
		mustPutState(t, s, st, at(100))
	}
	tests := []struct {
		name   string
		filter store.DeviceFilter
		want   []string
	}{
		{"all", store.DeviceFilter{}, []string{"acme/rtr-1", "acme/rtr-2", "acme/sw-1", "globex/rtr-1"}},
		{"tenant", store.DeviceFilter{Tenant: "acme"}, []string{"acme/rtr-1", "acme/rtr-2", "acme/sw-1"}},
		{"site across tenants", store.DeviceFilter{Site: "hq"}, []string{"acme/rtr-1", "acme/rtr-2", "globex/rtr-1"}},
		{"tenant and site", store.DeviceFilter{Tenant: "acme", Site: "hq"}, []string{"acme/rtr-1", "acme/rtr-2"}},
		{"board", store.DeviceFilter{Board: "openwrt-ramips-mt7621"}, []string{"acme/sw-1"}},
		{"version", store.DeviceFilter{Version: "23.05.2"}, []string{"acme/rtr-1", "acme/sw-1"}},
		{"board and version", store.DeviceFilter{Board: "openwrt-ath79-generic", Version: "23.05.3"}, []string{"acme/rtr-2"}},
		{"tag", store.DeviceFilter{Tag: "core"}, []string{"acme/rtr-1", "acme/sw-1"}},
		{"second tag", store.DeviceFilter{Tag: "pci"}, []string{"acme/rtr-1"}},
		{"tag and site", store.DeviceFilter{Tag: "core", Site: "branch"}, []string{"acme/sw-1"}},
		{"unknown tag", store.DeviceFilter{Tag: "nope"}, nil},
		{"unknown tenant", store.DeviceFilter{Tenant: "initech"}, nil},
		{"limit", store.DeviceFilter{Limit: 2}, []string{"acme/rtr-1", "acme/rtr-2"}},
		{"limit beyond", store.DeviceFilter{Tenant: "globex", Limit: 5}, []string{"globex/rtr-1"}},
		{"limit with filter", store.DeviceFilter{Site: "hq", Limit: 1}, []string{"acme/rtr-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devs, err := s.Devices(t.Context(), tt.filter)
			if err != nil {
				t.Fatalf("Devices(%+v) = %v", tt.filter, err)
			}
			var got []string
			for _, d := range devs {
				got = append(got, d.Tenant+"/"+d.ID)
				if d.State == nil {
					t.Errorf("Devices(%+v): %s/%s has no state", tt.filter, d.Tenant, d.ID)
				}
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts...); diff != "" {
				t.Errorf("Devices(%+v) (-want +got):\n%s", tt.filter, diff)
			}
		})
	}
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPutState(t, s, newState("acme", "rtr-1", at(0)), at(0))
	for _, tt := range []struct{ tenant, device string }{{"acme", "rtr-2"}, {"globex", "rtr-1"}} {
		if _, err := s.Device(ctx, tt.tenant, tt.device); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Device(%s/%s) error = %v, want store.ErrNotFound", tt.tenant, tt.device, err)
		}
		if _, err := s.Events(ctx, tt.tenant, tt.device, 0, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Events(%s/%s) error = %v, want store.ErrNotFound", tt.tenant, tt.device, err)
		}
	}
	// A known device without events has none, which is not an error.
	if evs, err := s.Events(ctx, "acme", "rtr-1", 0, 0); err != nil || len(evs) != 0 {
		t.Errorf("Events(acme/rtr-1) = %v, %v; want none, nil", evs, err)
	}
}

func testInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	bad := newState("acme", "rtr/1", at(0))
	tests := []struct {
		name string
		call func() error
	}{
		{"state device ID", func() error { return s.PutState(ctx, bad, at(0)) }},
		{"state tenant ID", func() error { return s.PutState(ctx, newState("", "rtr-1", at(0)), at(0)) }},
		{"state receive time", func() error { return s.PutState(ctx, newState("acme", "rtr-1", at(0)), time.Time{}) }},
		{"status value", func() error { return s.PutStatus(ctx, "acme", "rtr-1", "away", at(0)) }},
		{"status time", func() error { return s.PutStatus(ctx, "acme", "rtr-1", store.StatusOnline, time.Time{}) }},
		{"status device ID", func() error { return s.PutStatus(ctx, "acme", "+", store.StatusOnline, at(0)) }},
		{"event seq 0", func() error { _, err := s.AddEvents(ctx, "acme", "rtr-1", newEvents(1, 0), at(0)); return err }},
		{"event seq too large", func() error {
			_, err := s.AddEvents(ctx, "acme", "rtr-1", newEvents(store.MaxSeq+1), at(0))
			return err
		}},
		{"events device ID", func() error { _, err := s.AddEvents(ctx, "acme", "#", newEvents(1), at(0)); return err }},
		{"events receive time", func() error { _, err := s.AddEvents(ctx, "acme", "rtr-1", newEvents(1), time.Time{}); return err }},
		{"events limit", func() error { _, err := s.Events(ctx, "acme", "rtr-1", 0, -1); return err }},
		{"events tenant ID", func() error { _, err := s.Events(ctx, "ac me", "rtr-1", 0, 0); return err }},
		{"device ID", func() error { _, err := s.Device(ctx, "acme", ""); return err }},
		{"devices limit", func() error { _, err := s.Devices(ctx, store.DeviceFilter{Limit: -1}); return err }},
	}
	for _, tt := range tests {
		if err := tt.call(); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: error = %v, want store.ErrInvalid", tt.name, err)
		}
	}
	checkStats(t, s, store.Stats{}) // nothing was stored
}

func testStats(t *testing.T, s store.Store) {
	checkStats(t, s, store.Stats{})
	for _, st := range fleet() {
		mustPutState(t, s, st, at(100))
	}
	checkStats(t, s, store.Stats{Devices: 4})
	mustAddEvents(t, s, "acme", "rtr-1", at(101), 1, 2, 3)
	mustAddEvents(t, s, "acme", "rtr-1", at(102), 2, 3, 4) // two redelivered
	mustAddEvents(t, s, "acme", "rtr-9", at(103), 5)       // a new device, with a gap
	checkStats(t, s, store.Stats{Devices: 5, Events: 5})
}

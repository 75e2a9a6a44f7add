package store_test

import (
	"errors"
	"testing"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

func TestSelfVersion(t *testing.T) {
	tests := []struct {
		name      string
		inventory []telemetry.Component
		want      string
	}{
		{"none", nil, ""},
		{"self", []telemetry.Component{{ID: "agent", Kind: "agent", Version: "1.0.0"}, {ID: "self", Kind: "firmware", Version: "23.05.2"}}, "23.05.2"},
		{"self of another kind", []telemetry.Component{{ID: "self", Kind: "app", Version: "2.0"}}, ""},
		{"firmware of a neighbour", []telemetry.Component{{ID: "sw-1", Kind: "firmware", Version: "4.2"}}, ""},
	}
	for _, tt := range tests {
		if got := store.SelfVersion(telemetry.State{Inventory: tt.inventory}); got != tt.want {
			t.Errorf("%s: SelfVersion() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCheckEvents(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name           string
		tenant, device string
		seqs           []uint64
		received       time.Time
		wantErr        bool
	}{
		{"fine", "acme", "rtr-1", []uint64{1, 2, store.MaxSeq}, now, false},
		{"no events", "acme", "rtr-1", nil, now, false},
		{"seq 0", "acme", "rtr-1", []uint64{1, 0}, now, true},
		{"seq beyond MaxSeq", "acme", "rtr-1", []uint64{store.MaxSeq + 1}, now, true},
		{"tenant", "", "rtr-1", []uint64{1}, now, true},
		{"device with a slash", "acme", "rtr/1", []uint64{1}, now, true},
		{"device with a wildcard", "acme", "+", []uint64{1}, now, true},
		{"zero receive time", "acme", "rtr-1", []uint64{1}, time.Time{}, true},
	}
	for _, tt := range tests {
		evs := make([]telemetry.Event, len(tt.seqs))
		for i, seq := range tt.seqs {
			evs[i].Seq = seq
		}
		err := store.CheckEvents(tt.tenant, tt.device, evs, tt.received)
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, store.ErrInvalid)) {
			t.Errorf("%s: CheckEvents() = %v, want error %v wrapping ErrInvalid", tt.name, err, tt.wantErr)
		}
	}
}

func TestEventsLimit(t *testing.T) {
	tests := []struct {
		limit, want int
		wantErr     bool
	}{
		{0, store.DefaultEventsLimit, false},
		{1, 1, false},
		{store.MaxEventsLimit, store.MaxEventsLimit, false},
		{store.MaxEventsLimit + 1, store.MaxEventsLimit, false},
		{-1, 0, true},
	}
	for _, tt := range tests {
		got, err := store.EventsLimit(tt.limit)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("EventsLimit(%d) = %d, %v; want %d, error %v", tt.limit, got, err, tt.want, tt.wantErr)
		}
	}
}

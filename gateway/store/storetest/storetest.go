package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

// Run runs the conformance suite. open returns a store on a new, empty
// database for each call and arranges for it to be closed with t.Cleanup
// (Close may be called twice).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(*testing.T, store.Store)
	}{
		{"CreateOnFirstState", testCreateOnFirstState},
		{"StateOrder", testStateOrder},
		{"Status", testStatus},
		{"EventsInOrder", testEventsInOrder},
		{"Redelivery", testRedelivery},
		{"Gaps", testGaps},
		{"DroppedRun", testDroppedRun},
		{"EventsBeforeState", testEventsBeforeState},
		{"NoEvents", testNoEvents},
		{"Invalid", testInvalid},
		{"NotFound", testNotFound},
		{"Filters", testFilters},
		{"EventsPaging", testEventsPaging},
		{"Stats", testStats},
		{"Concurrent", testConcurrent},
		{"OddText", testOddText},
		{"EventBatch", testEventBatch},
		{"EventBatchSameDevice", testEventBatchSameDevice},
		{"EventBatchWithoutEvents", testEventBatchWithoutEvents},
		{"EventBatchInvalid", testEventBatchInvalid},
		{"EventBatchDropped", testEventBatchDropped},
		{"EventBatchLikeSingleCalls", func(t *testing.T, s store.Store) { testEventBatchLikeSingleCalls(t, s, open(t)) }},
		{"EventBatchConcurrent", testEventBatchConcurrent},
		{"StatusBatch", testStatusBatch},
		{"StateBatch", testStateBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open(t)) })
	}
}

// RunReopen checks that what a store holds survives Close. newDB returns
// the location of a new, empty database (a file path, a DSN); open opens a
// store on it and is called twice for the same location.
func RunReopen(t *testing.T, newDB func(t *testing.T) string, open func(t *testing.T, db string) store.Store) {
	db := newDB(t)
	ctx := t.Context()
	s := open(t, db)
	st := newState("acme", "rtr-1", at(0))
	mustPutState(t, s, st, at(1))
	mustAddEvents(t, s, "acme", "rtr-1", at(2), 1, 2, 4)
	if err := s.PutStatus(ctx, "acme", "rtr-1", store.StatusOnline, at(3)); err != nil {
		t.Fatalf("PutStatus() = %v", err)
	}
	want := store.Device{
		Tenant: "acme", ID: "rtr-1", Site: "hq", Tags: []string{"core", "pci"}, Board: "openwrt-ath79-generic",
		Version: "23.05.2", AgentVersion: "1.0.0", Status: store.StatusOnline, LastSeen: at(3), Phase: "idle",
		AckSeq: 2, State: withSchema(st),
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}

	s = open(t, db)
	checkDevice(t, s, want)
	checkEvents(t, s, "acme", "rtr-1", stored("acme", "rtr-1", at(2), newEvents(1, 2, 4)...))
	checkStats(t, s, store.Stats{Devices: 1, Events: 3})
	if ack := mustAddEvents(t, s, "acme", "rtr-1", at(4), 3); ack != 4 {
		t.Errorf("AddEvents(3) after reopening = %d, want 4", ack)
	}
}

// t0 is the suite's reference time.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// at is seconds after t0.
func at(seconds int) time.Time { return t0.Add(time.Duration(seconds) * time.Second) }

// cmpOpts compare what a store returns with what the suite wants: stores
// may return nil or empty slices and maps alike.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

// newState is a state document of a router on firmware 23.05.2.
func newState(tenant, device string, t time.Time) telemetry.State {
	return telemetry.State{
		Tenant: tenant, DeviceID: device, Site: "hq", Tags: []string{"core", "pci"},
		Board: "openwrt-ath79-generic", AgentVersion: "1.0.0", Time: t, Seq: 7,
		Inventory: []telemetry.Component{
			{ID: "self", Kind: "firmware", Board: "openwrt-ath79-generic", Version: "23.05.2"},
			{ID: "sw-lobby", Kind: "snmp", Vendor: "ExampleNet", Model: "X-24", Version: "4.2", Address: "192.0.2.10"},
		},
		Update: telemetry.Update{Phase: "idle"},
	}
}

// withSchema is st as a store returns it, with its schema version set.
func withSchema(st telemetry.State) *telemetry.State {
	st.Schema = telemetry.SchemaVersion
	return &st
}

// newEvents returns progress events with the sequence numbers seqs.
func newEvents(seqs ...uint64) []telemetry.Event {
	evs := make([]telemetry.Event, len(seqs))
	for i, seq := range seqs {
		evs[i] = telemetry.Event{
			Seq: seq, Time: at(int(seq)), Type: telemetry.EventProgress, Phase: "downloading",
			Target: "openwrt-23.05.3-ath79-generic.bin", Message: fmt.Sprintf("chunk %d", seq),
			Done: int64(seq) << 10, Total: 1 << 20, Data: map[string]string{"slot": "b"},
		}
	}
	return evs
}

// stored is events as Events returns them.
func stored(tenant, device string, received time.Time, events ...telemetry.Event) []store.StoredEvent {
	out := make([]store.StoredEvent, len(events))
	for i, ev := range events {
		ev.Schema = telemetry.SchemaVersion
		out[i] = store.StoredEvent{Tenant: tenant, Device: device, Received: received, Event: ev}
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var seqs []uint64
	for seq := from; seq <= to; seq++ {
		seqs = append(seqs, seq)
	}
	return seqs
}

func mustPutState(t *testing.T, s store.Store, st telemetry.State, received time.Time) {
	t.Helper()
	if err := s.PutState(t.Context(), st, received); err != nil {
		t.Fatalf("PutState(%s/%s at %v) = %v", st.Tenant, st.DeviceID, st.Time, err)
	}
}

func mustAddEvents(t *testing.T, s store.Store, tenant, device string, received time.Time, seqs ...uint64) uint64 {
	t.Helper()
	ack, err := s.AddEvents(t.Context(), tenant, device, newEvents(seqs...), received)
	if err != nil {
		t.Fatalf("AddEvents(%s/%s, %v) = %v", tenant, device, seqs, err)
	}
	return ack
}

func checkDevice(t *testing.T, s store.Store, want store.Device) {
	t.Helper()
	got, err := s.Device(t.Context(), want.Tenant, want.ID)
	if err != nil {
		t.Fatalf("Device(%s/%s) = %v", want.Tenant, want.ID, err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("Device(%s/%s) (-want +got):\n%s", want.Tenant, want.ID, diff)
	}
}

func checkEvents(t *testing.T, s store.Store, tenant, device string, want []store.StoredEvent) {
	t.Helper()
	got, err := s.Events(t.Context(), tenant, device, 0, store.MaxEventsLimit)
	if err != nil {
		t.Fatalf("Events(%s/%s) = %v", tenant, device, err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("Events(%s/%s) (-want +got):\n%s", tenant, device, diff)
	}
}

func checkStats(t *testing.T, s store.Store, want store.Stats) {
	t.Helper()
	got, err := s.Stats(t.Context())
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	if got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

// entry is a DeviceEvents of tenant acme with progress events seqs.
func entry(device string, seqs ...uint64) store.DeviceEvents {
	return store.DeviceEvents{Tenant: "acme", Device: device, Events: newEvents(seqs...)}
}

// mustAddEventBatch calls AddEventBatch and checks that it returns one
// result per entry.
func mustAddEventBatch(t *testing.T, s store.Store, received time.Time, batch ...store.DeviceEvents) []store.EventsResult {
	t.Helper()
	res, err := s.AddEventBatch(t.Context(), batch, received)
	if err != nil {
		t.Fatalf("AddEventBatch(%d entries) = %v", len(batch), err)
	}
	if len(res) != len(batch) {
		t.Fatalf("AddEventBatch(%d entries) returned %d results", len(batch), len(res))
	}
	return res
}

// checkResults compares AddEventBatch results with want, ignoring Err
// (which the caller checks).
func checkResults(t *testing.T, got, want []store.EventsResult) {
	t.Helper()
	for i := range got {
		if got[i].Err != nil {
			t.Errorf("result %d: Err = %v, want nil", i, got[i].Err)
		}
		got[i].Err = nil
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AddEventBatch results (-want +got):\n%s", diff)
	}
}

// testEventBatch stores the events of several devices, new and known, in
// one call: each device gets its own ack, events and last seen.
func testEventBatch(t *testing.T, s store.Store) {
	mustPutState(t, s, newState("acme", "known", at(0)), at(0))
	mustAddEvents(t, s, "acme", "known", at(1), 1, 2, 4)
	mustAddEvents(t, s, "acme", "gappy", at(1), 2, 3)

	res := mustAddEventBatch(t, s, at(10),
		entry("known", 3, 5),      // fills the hole: 1..5
		entry("fresh", 1, 2, 3),   // created by the batch
		entry("gappy", 4),         // 1 is still missing
		entry("other-gap", 2, 1),  // unordered
		entry("dups", 1, 1, 2, 2), // repeated in the entry
	)
	checkResults(t, res, []store.EventsResult{
		{Ack: 5, New: 2}, {Ack: 3, New: 3}, {Ack: 0, New: 1}, {Ack: 2, New: 2}, {Ack: 2, New: 2},
	})
	for _, want := range []store.Device{
		{Tenant: "acme", ID: "fresh", LastSeen: at(10), AckSeq: 3},
		{Tenant: "acme", ID: "gappy", LastSeen: at(10), AckSeq: 0},
		{Tenant: "acme", ID: "other-gap", LastSeen: at(10), AckSeq: 2},
		{Tenant: "acme", ID: "dups", LastSeen: at(10), AckSeq: 2},
	} {
		checkDevice(t, s, want)
	}
	d, err := s.Device(t.Context(), "acme", "known")
	if err != nil {
		t.Fatalf("Device(known) = %v", err)
	}
	if d.AckSeq != 5 || !d.LastSeen.Equal(at(10)) || d.State == nil {
		t.Errorf("Device(known) AckSeq, LastSeen, State = %d, %v, %v; want 5, %v, its state", d.AckSeq, d.LastSeen, d.State, at(10))
	}
	checkEvents(t, s, "acme", "known", slices.Concat(
		stored("acme", "known", at(1), newEvents(1, 2)...),
		stored("acme", "known", at(10), newEvents(3)...),
		stored("acme", "known", at(1), newEvents(4)...),
		stored("acme", "known", at(10), newEvents(5)...)))
	checkEvents(t, s, "acme", "fresh", stored("acme", "fresh", at(10), newEvents(1, 2, 3)...))
	checkEvents(t, s, "acme", "dups", stored("acme", "dups", at(10), newEvents(1, 2)...))
	checkStats(t, s, store.Stats{Devices: 5, Events: 5 + 3 + 3 + 2 + 2})

	// The whole batch again changes nothing but last seen.
	res = mustAddEventBatch(t, s, at(20), entry("known", 3, 5), entry("fresh", 1, 2, 3))
	checkResults(t, res, []store.EventsResult{{Ack: 5}, {Ack: 3}})
	checkEvents(t, s, "acme", "fresh", stored("acme", "fresh", at(10), newEvents(1, 2, 3)...))
	checkDevice(t, s, store.Device{Tenant: "acme", ID: "fresh", LastSeen: at(20), AckSeq: 3})
	checkStats(t, s, store.Stats{Devices: 5, Events: 15})

	// The caller's events are left as they were.
	batch := []store.DeviceEvents{entry("fresh", 4)}
	mustAddEventBatch(t, s, at(21), batch...)
	if diff := cmp.Diff(newEvents(4), batch[0].Events, cmpOpts...); diff != "" {
		t.Errorf("AddEventBatch changed its argument (-before +after):\n%s", diff)
	}
}

// testEventBatchSameDevice: entries of one device are stored together and
// each gets the device's ack after the batch; an event repeated across
// them is new only once.
func testEventBatchSameDevice(t *testing.T, s store.Store) {
	res := mustAddEventBatch(t, s, at(1), entry("rtr-1", 2, 3), entry("rtr-2", 1), entry("rtr-1", 3, 1), entry("rtr-1"))
	checkResults(t, res, []store.EventsResult{{Ack: 3, New: 2}, {Ack: 1, New: 1}, {Ack: 3, New: 1}, {Ack: 3}})
	checkEvents(t, s, "acme", "rtr-1", stored("acme", "rtr-1", at(1), newEvents(1, 2, 3)...))
	checkStats(t, s, store.Stats{Devices: 2, Events: 4})
}

// testEventBatchWithoutEvents: an entry without events creates nothing and
// returns the device's ack; a batch of only such entries changes nothing.
func testEventBatchWithoutEvents(t *testing.T, s store.Store) {
	res := mustAddEventBatch(t, s, at(1), entry("unknown"))
	checkResults(t, res, []store.EventsResult{{}})
	checkStats(t, s, store.Stats{})

	mustAddEvents(t, s, "acme", "rtr-1", at(2), 1, 2, 4)
	res = mustAddEventBatch(t, s, at(3), entry("rtr-1"), entry("unknown"))
	checkResults(t, res, []store.EventsResult{{Ack: 2}, {}})
	checkDevice(t, s, store.Device{Tenant: "acme", ID: "rtr-1", LastSeen: at(2), AckSeq: 2})

	res = mustAddEventBatch(t, s, at(4), entry("rtr-1"), entry("unknown"), entry("rtr-2", 1))
	checkResults(t, res, []store.EventsResult{{Ack: 2}, {}, {Ack: 1, New: 1}})
	checkStats(t, s, store.Stats{Devices: 2, Events: 4})

	if res := mustAddEventBatch(t, s, at(5)); len(res) != 0 {
		t.Errorf("AddEventBatch(no entries) = %v, want none", res)
	}
}

// testEventBatchInvalid: an invalid entry is refused on its own; the
// others are stored.
func testEventBatchInvalid(t *testing.T, s store.Store) {
	huge := newEvents(3)
	huge[0].Message = string(make([]byte, telemetry.MaxDocumentBytes)) // cannot be encoded
	batch := []store.DeviceEvents{
		entry("rtr-1", 1, 2),
		{Tenant: "acme", Device: "rtr/2", Events: newEvents(1)}, // not an ID
		entry("rtr-3", 1, 0), // sequence number 0
		entry("rtr-4", store.MaxSeq+1),
		{Tenant: "", Device: "rtr-5", Events: newEvents(1)},
		{Tenant: "acme", Device: "rtr-6", Events: huge},
		entry("rtr-7", 1),
	}
	res := mustAddEventBatch(t, s, at(1), batch...)
	for i, r := range res {
		valid := i == 0 || i == len(res)-1
		switch {
		case valid && r.Err != nil:
			t.Errorf("entry %d (%s/%s): Err = %v, want nil", i, batch[i].Tenant, batch[i].Device, r.Err)
		case !valid && !errors.Is(r.Err, store.ErrInvalid):
			t.Errorf("entry %d (%s/%s): Err = %v, want one wrapping store.ErrInvalid", i, batch[i].Tenant, batch[i].Device, r.Err)
		case !valid && (r.Ack != 0 || r.New != 0):
			t.Errorf("entry %d (%s/%s) refused with Ack %d, New %d; want 0, 0", i, batch[i].Tenant, batch[i].Device, r.Ack, r.New)
		}
	}
	if res[0].Ack != 2 || res[0].New != 2 || res[6].Ack != 1 || res[6].New != 1 {
		t.Errorf("valid entries: %+v and %+v, want acks 2 and 1", res[0], res[6])
	}
	checkStats(t, s, store.Stats{Devices: 2, Events: 3})
	if _, err := s.Device(t.Context(), "acme", "rtr-3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Device(rtr-3) = %v, want ErrNotFound: nothing of a refused entry is stored", err)
	}

	// Without a receive time every entry is refused.
	res = mustAddEventBatch(t, s, time.Time{}, entry("rtr-1", 3), entry("rtr-8", 1))
	for i, r := range res {
		if !errors.Is(r.Err, store.ErrInvalid) {
			t.Errorf("zero receive time: entry %d: Err = %v, want store.ErrInvalid", i, r.Err)
		}
	}
	checkStats(t, s, store.Stats{Devices: 2, Events: 3})
}

// testEventBatchDropped: events-dropped markers expand in a batch as in
// AddEvents.
func testEventBatchDropped(t *testing.T, s store.Store) {
	marker := telemetry.Event{Seq: 10, Time: at(1), Type: telemetry.EventInfo, Reason: telemetry.ReasonEventsDropped,
		Data: map[string]string{telemetry.DataFirstSeq: "3"}}
	res := mustAddEventBatch(t, s, at(1),
		entry("dropper", 1, 2, 11),
		store.DeviceEvents{Tenant: "acme", Device: "dropper", Events: []telemetry.Event{marker}},
		entry("plain", 1),
	)
	checkResults(t, res, []store.EventsResult{{Ack: 11, New: 3}, {Ack: 11, New: 1}, {Ack: 1, New: 1}})
	checkStats(t, s, store.Stats{Devices: 2, Events: 11 + 1})
}

// testEventBatchLikeSingleCalls stores random batches in s with
// AddEventBatch and in single with one AddEvents call per entry: the two
// stores end up the same, and each entry's ack is the device's ack after
// its batch.
func testEventBatchLikeSingleCalls(t *testing.T, s, single store.Store) {
	ctx := t.Context()
	rnd := rand.New(rand.NewPCG(5, 7))
	const devices, maxSeq = 6, 24
	for round := range 30 {
		var batch []store.DeviceEvents
		for range 1 + rnd.IntN(8) {
			e := entry(fmt.Sprintf("dev-%d", rnd.IntN(devices)))
			for range rnd.IntN(5) {
				e.Events = append(e.Events, newEvents(1+rnd.Uint64N(maxSeq))...)
			}
			if rnd.IntN(10) == 0 && len(e.Events) > 0 { // a dropped run ending at the first event
				ev := &e.Events[0]
				if ev.Seq > 2 {
					ev.Reason, ev.Data = telemetry.ReasonEventsDropped, map[string]string{telemetry.DataFirstSeq: strconv.FormatUint(ev.Seq-2, 10)}
				}
			}
			batch = append(batch, e)
		}
		received := at(100 + round)
		res := mustAddEventBatch(t, s, received, batch...)
		after := map[string]uint64{}
		for _, e := range batch {
			ack, err := single.AddEvents(ctx, e.Tenant, e.Device, e.Events, received)
			if err != nil {
				t.Fatalf("round %d: AddEvents(%s) = %v", round, e.Device, err)
			}
			after[e.Device] = ack
		}
		for i, e := range batch {
			if res[i].Err != nil || res[i].Ack != after[e.Device] {
				t.Errorf("round %d: entry %d (%s): ack %d, %v; want %d, nil as after single calls", round, i, e.Device, res[i].Ack, res[i].Err, after[e.Device])
			}
		}
	}
	want, err := single.Devices(ctx, store.DeviceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Devices(ctx, store.DeviceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("devices after batches (-single calls +batches):\n%s", diff)
	}
	for _, d := range want {
		wantEvs, err := single.Events(ctx, d.Tenant, d.ID, 0, store.MaxEventsLimit)
		if err != nil {
			t.Fatal(err)
		}
		checkEvents(t, s, d.Tenant, d.ID, wantEvs)
	}
	wantStats, err := single.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkStats(t, s, wantStats)
}

// testEventBatchConcurrent stores overlapping batches, each with many
// devices in its own order, from several goroutines (as several ingesters
// sharing a database do): no batch fails (a deadlock would), and every
// event is stored once.
func testEventBatchConcurrent(t *testing.T, s store.Store) {
	const (
		workers   = 6
		devices   = 30
		perDevice = 12
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 99))
			for seq := uint64(1); seq <= perDevice; seq++ {
				var batch []store.DeviceEvents
				for _, d := range rnd.Perm(devices) {
					batch = append(batch, entry(fmt.Sprintf("dev-%02d", d), seq))
				}
				res, err := s.AddEventBatch(t.Context(), batch, at(int(seq)))
				if err != nil {
					t.Errorf("worker %d: AddEventBatch(event %d of %d devices) = %v", w, seq, devices, err)
					return
				}
				for i, r := range res {
					if r.Err != nil || r.Ack < seq {
						t.Errorf("worker %d: %s event %d: ack %d, %v; want at least %d", w, batch[i].Device, seq, r.Ack, r.Err, seq)
					}
				}
			}
		})
	}
	wg.Wait()
	for d := range devices {
		checkDevice(t, s, store.Device{Tenant: "acme", ID: fmt.Sprintf("dev-%02d", d), LastSeen: at(perDevice), AckSeq: perDevice})
	}
	checkStats(t, s, store.Stats{Devices: devices, Events: devices * perDevice})
}

// testStatusBatch: statuses are recorded in order, as by PutStatus calls,
// and an invalid one is refused on its own.
func testStatusBatch(t *testing.T, s store.Store) {
	statuses := []store.DeviceStatus{
		{Tenant: "acme", Device: "rtr-1", Status: store.StatusOnline, At: at(10)},
		{Tenant: "acme", Device: "rtr-2", Status: "away", At: at(10)},
		{Tenant: "acme", Device: "rtr-3", Status: store.StatusOnline, At: at(10)},
		{Tenant: "acme", Device: "rtr-1", Status: store.StatusOffline, At: at(10)}, // the later of equal times wins
		{Tenant: "acme", Device: "rtr-3", Status: store.StatusOnline, At: at(5)},   // older: ignored
		{Tenant: "acme", Device: "#", Status: store.StatusOnline, At: at(10)},
		{Tenant: "acme", Device: "rtr-4", Status: store.StatusOnline},
	}
	refused, err := s.PutStatusBatch(t.Context(), statuses)
	if err != nil {
		t.Fatalf("PutStatusBatch() = %v", err)
	}
	if len(refused) != len(statuses) {
		t.Fatalf("PutStatusBatch() refused %d errors for %d statuses", len(refused), len(statuses))
	}
	for i, err := range refused {
		want := i == 1 || i == 5 || i == 6
		if want != errors.Is(err, store.ErrInvalid) || (!want && err != nil) {
			t.Errorf("status %d (%+v): refused %v, want refused %v", i, statuses[i], err, want)
		}
	}
	checkDevice(t, s, store.Device{Tenant: "acme", ID: "rtr-1", Status: store.StatusOffline, LastSeen: at(10)})
	checkDevice(t, s, store.Device{Tenant: "acme", ID: "rtr-3", Status: store.StatusOnline, LastSeen: at(10)})
	checkStats(t, s, store.Stats{Devices: 2})

	if refused, err := s.PutStatusBatch(t.Context(), nil); err != nil || len(refused) != 0 {
		t.Errorf("PutStatusBatch(none) = %v, %v; want nothing", refused, err)
	}
}

// testStateBatch: states are recorded as by PutState calls, and an invalid
// one is refused on its own.
func testStateBatch(t *testing.T, s store.Store) {
	older := newState("acme", "rtr-1", at(0))
	older.Site = "old"
	newer := newState("acme", "rtr-1", at(1))
	newer.Tags = []string{"edge"}
	other := newState("acme", "rtr-2", at(0))
	states := []telemetry.State{
		older,
		newState("acme", "rtr/x", at(0)),
		newer,
		other,
		newState("acme", "rtr-2", at(-5)), // older than the one before: ignored
		newState("", "rtr-3", at(0)),
	}
	refused, err := s.PutStateBatch(t.Context(), states, at(10))
	if err != nil {
		t.Fatalf("PutStateBatch() = %v", err)
	}
	if len(refused) != len(states) {
		t.Fatalf("PutStateBatch() refused %d errors for %d states", len(refused), len(states))
	}
	for i, err := range refused {
		want := i == 1 || i == 5
		if want != errors.Is(err, store.ErrInvalid) || (!want && err != nil) {
			t.Errorf("state %d (%s/%s): refused %v, want refused %v", i, states[i].Tenant, states[i].DeviceID, err, want)
		}
	}
	checkDevice(t, s, store.Device{
		Tenant: "acme", ID: "rtr-1", Site: "hq", Tags: []string{"edge"}, Board: "openwrt-ath79-generic",
		Version: "23.05.2", AgentVersion: "1.0.0", LastSeen: at(10), Phase: "idle", State: withSchema(newer),
	})
	checkDevice(t, s, store.Device{
		Tenant: "acme", ID: "rtr-2", Site: "hq", Tags: []string{"core", "pci"}, Board: "openwrt-ath79-generic",
		Version: "23.05.2", AgentVersion: "1.0.0", LastSeen: at(10), Phase: "idle", State: withSchema(other),
	})
	for _, tt := range []struct {
		tag  string
		want int
	}{{"edge", 1}, {"core", 1}, {"pci", 1}} {
		got, err := s.Devices(t.Context(), store.DeviceFilter{Tag: tt.tag})
		if err != nil || len(got) != tt.want {
			t.Errorf("Devices(tag %s) = %d devices, %v; want %d", tt.tag, len(got), err, tt.want)
		}
	}
	checkStats(t, s, store.Stats{Devices: 2})
	if states[2].Schema != 0 {
		t.Errorf("PutStateBatch changed its argument: schema %d", states[2].Schema)
	}
}

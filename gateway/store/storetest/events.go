package storetest

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

func testEventsInOrder(t *testing.T, s store.Store) {
	mustPutState(t, s, newState("acme", "rtr-1", at(0)), at(0))
	if ack := mustAddEvents(t, s, "acme", "rtr-1", at(10), 1, 2, 3); ack != 3 {
		t.Errorf("AddEvents(1, 2, 3) = %d, want 3", ack)
	}
	checkEvents(t, s, "acme", "rtr-1", stored("acme", "rtr-1", at(10), newEvents(1, 2, 3)...))
	d, err := s.Device(t.Context(), "acme", "rtr-1")
	if err != nil {
		t.Fatalf("Device() = %v", err)
	}
	if d.AckSeq != 3 || !d.LastSeen.Equal(at(10)) {
		t.Errorf("Device() AckSeq, LastSeen = %d, %v; want 3, %v", d.AckSeq, d.LastSeen, at(10))
	}
	// The caller's events are left as they were.
	evs := newEvents(4)
	if _, err := s.AddEvents(t.Context(), "acme", "rtr-1", evs, at(11)); err != nil {
		t.Fatalf("AddEvents(4) = %v", err)
	}
	if diff := cmp.Diff(newEvents(4), evs, cmpOpts...); diff != "" {
		t.Errorf("AddEvents changed its argument (-before +after):\n%s", diff)
	}
}

func testRedelivery(t *testing.T, s store.Store) {
	if ack := mustAddEvents(t, s, "acme", "rtr-1", at(10), 1, 2, 3); ack != 3 {
		t.Fatalf("AddEvents(1, 2, 3) = %d, want 3", ack)
	}
	again := newEvents(1, 2, 3)
	again[1].Message = "changed in transit" // the first stored copy wins
	ack, err := s.AddEvents(t.Context(), "acme", "rtr-1", again, at(20))
	if err != nil || ack != 3 {
		t.Errorf("AddEvents(1, 2, 3) again = %d, %v; want 3, nil", ack, err)
	}
	checkEvents(t, s, "acme", "rtr-1", stored("acme", "rtr-1", at(10), newEvents(1, 2, 3)...))
	checkStats(t, s, store.Stats{Devices: 1, Events: 3})
}

// testDroppedRun: a device's outbox replaced progress events 3..9 by one
// events-dropped marker numbered 9; the run counts as stored.
func testDroppedRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustAddEvents(t, s, "acme", "dropper", at(0), 1, 2, 11)
	marker := telemetry.Event{Seq: 10, Time: at(1), Type: telemetry.EventInfo, Reason: telemetry.ReasonEventsDropped,
		Data: map[string]string{telemetry.DataFirstSeq: "3"}}
	ack, err := s.AddEvents(ctx, "acme", "dropper", []telemetry.Event{marker}, at(1))
	if err != nil || ack != 11 {
		t.Errorf("AddEvents(events-dropped 3..10) = %d, %v; want ack 11", ack, err)
	}
	bad := telemetry.Event{Seq: 20, Time: at(2), Type: telemetry.EventInfo, Reason: telemetry.ReasonEventsDropped,
		Data: map[string]string{telemetry.DataFirstSeq: "not a number"}}
	if ack, err := s.AddEvents(ctx, "acme", "dropper", []telemetry.Event{bad}, at(2)); err != nil || ack != 11 {
		t.Errorf("AddEvents(malformed marker 20) = %d, %v; want ack 11 (kept as an ordinary event)", ack, err)
	}
}

func testGaps(t *testing.T, s store.Store) {
	tests := []struct {
		name     string
		batches  [][]uint64
		wantAcks []uint64
	}{
		{"hole filled", [][]uint64{{1, 2, 4}, {3}}, []uint64{2, 4}},
		{"reverse order", [][]uint64{{3}, {2}, {1}}, []uint64{0, 0, 3}},
		{"unordered batch", [][]uint64{{3, 1, 2}}, []uint64{3}},
		{"duplicates in a batch", [][]uint64{{1, 1, 2, 2}}, []uint64{2}},
		{"first missing", [][]uint64{{2, 3}, {1}}, []uint64{0, 3}},
		{"redelivery around a hole", [][]uint64{{1, 3}, {1, 3}, {2}, {2, 3}}, []uint64{1, 1, 3, 3}},
		{"two holes", [][]uint64{{1, 3, 5}, {4}, {2}}, []uint64{1, 1, 5}},
		{"long run after the hole", [][]uint64{seqRange(2, 300), {1}}, []uint64{0, 300}},
		{"hole stays", [][]uint64{{1}, seqRange(3, 50), {51}}, []uint64{1, 1, 1}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			device := fmt.Sprintf("gap-%d", i)
			seen := map[uint64]bool{}
			for j, batch := range tt.batches {
				if ack := mustAddEvents(t, s, "acme", device, at(j), batch...); ack != tt.wantAcks[j] {
					t.Errorf("AddEvents(%v) after %v = %d, want %d", batch, tt.batches[:j], ack, tt.wantAcks[j])
				}
				for _, seq := range batch {
					seen[seq] = true
				}
			}
			got, err := s.Events(t.Context(), "acme", device, 0, store.MaxEventsLimit)
			if err != nil {
				t.Fatalf("Events() = %v", err)
			}
			var gotSeqs []uint64
			for _, ev := range got {
				gotSeqs = append(gotSeqs, ev.Event.Seq)
			}
			wantSeqs := slices.Sorted(maps.Keys(seen))
			if diff := cmp.Diff(wantSeqs, gotSeqs); diff != "" {
				t.Errorf("Events() sequence numbers (-want +got):\n%s", diff)
			}
			d, err := s.Device(t.Context(), "acme", device)
			if err != nil {
				t.Fatalf("Device() = %v", err)
			}
			if want := tt.wantAcks[len(tt.wantAcks)-1]; d.AckSeq != want {
				t.Errorf("Device().AckSeq = %d, want %d", d.AckSeq, want)
			}
		})
	}
}

func testEventsBeforeState(t *testing.T, s store.Store) {
	if ack := mustAddEvents(t, s, "acme", "rtr-1", at(10), 1, 2); ack != 2 {
		t.Errorf("AddEvents(1, 2) = %d, want 2", ack)
	}
	checkDevice(t, s, store.Device{Tenant: "acme", ID: "rtr-1", LastSeen: at(10), AckSeq: 2})
	st := newState("acme", "rtr-1", at(0))
	mustPutState(t, s, st, at(11))
	checkDevice(t, s, store.Device{
		Tenant: "acme", ID: "rtr-1", Site: "hq", Tags: []string{"core", "pci"}, Board: "openwrt-ath79-generic",
		Version: "23.05.2", AgentVersion: "1.0.0", LastSeen: at(11), Phase: "idle", AckSeq: 2, State: withSchema(st),
	})
	if ack := mustAddEvents(t, s, "acme", "rtr-1", at(12), 3); ack != 3 {
		t.Errorf("AddEvents(3) = %d, want 3", ack)
	}
	checkEvents(t, s, "acme", "rtr-1", append(
		stored("acme", "rtr-1", at(10), newEvents(1, 2)...),
		stored("acme", "rtr-1", at(12), newEvents(3)...)...))
}

func testNoEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	ack, err := s.AddEvents(ctx, "acme", "rtr-1", nil, at(0))
	if err != nil || ack != 0 {
		t.Errorf("AddEvents(unknown device, none) = %d, %v; want 0, nil", ack, err)
	}
	checkStats(t, s, store.Stats{}) // no device was created
	mustAddEvents(t, s, "acme", "rtr-1", at(1), 1, 2, 4)
	ack, err = s.AddEvents(ctx, "acme", "rtr-1", nil, at(2))
	if err != nil || ack != 2 {
		t.Errorf("AddEvents(none) = %d, %v; want 2, nil", ack, err)
	}
	checkDevice(t, s, store.Device{Tenant: "acme", ID: "rtr-1", LastSeen: at(1), AckSeq: 2})
}

func testEventsPaging(t *testing.T, s store.Store) {
	const n = 1200
	for from := uint64(1); from <= n; from += 100 {
		mustAddEvents(t, s, "acme", "rtr-1", at(0), seqRange(from, from+99)...)
	}
	mustAddEvents(t, s, "acme", "rtr-2", at(0), 1, 2) // another device's events stay out
	tests := []struct {
		after          uint64
		limit          int
		wantFirst, len uint64
	}{
		{0, 0, 1, store.DefaultEventsLimit},
		{100, 100, 101, 100},
		{1150, 100, 1151, 50},
		{0, 5000, 1, store.MaxEventsLimit},
		{7, 1, 8, 1},
		{n, 10, 0, 0},
		{math.MaxUint64, 10, 0, 0},
	}
	for _, tt := range tests {
		got, err := s.Events(t.Context(), "acme", "rtr-1", tt.after, tt.limit)
		if err != nil {
			t.Fatalf("Events(after %d, limit %d) = %v", tt.after, tt.limit, err)
		}
		var want []store.StoredEvent
		if tt.len > 0 {
			want = stored("acme", "rtr-1", at(0), newEvents(seqRange(tt.wantFirst, tt.wantFirst+tt.len-1)...)...)
		}
		if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
			t.Errorf("Events(after %d, limit %d) (-want +got):\n%s", tt.after, tt.limit, diff)
		}
	}
}

// testConcurrent sends every device's events in small batches, each batch
// twice, in random order from many goroutines, while others write states
// and statuses and read. Run it with the race detector.
func testConcurrent(t *testing.T, s store.Store) {
	const (
		workers   = 8
		devices   = 40
		perDevice = 30
		batch     = 3
	)
	ctx := t.Context()
	type work struct {
		device string
		seqs   []uint64
	}
	var items []work
	for d := range devices {
		for from := uint64(1); from <= perDevice; from += batch {
			w := work{fmt.Sprintf("dev-%03d", d), seqRange(from, min(from+batch-1, perDevice))}
			items = append(items, w, w)
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })

	ch := make(chan work)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for w := range ch {
				ack, err := s.AddEvents(ctx, "acme", w.device, newEvents(w.seqs...), at(1))
				if err != nil {
					t.Errorf("AddEvents(%s, %v) = %v", w.device, w.seqs, err)
				} else if ack > perDevice {
					t.Errorf("AddEvents(%s, %v) = %d, want at most %d", w.device, w.seqs, ack, perDevice)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 3 {
			for d := range devices {
				id := fmt.Sprintf("dev-%03d", d)
				if err := s.PutState(ctx, newState("acme", id, at(i)), at(2)); err != nil {
					t.Errorf("PutState(%s) = %v", id, err)
				}
				if err := s.PutStatus(ctx, "acme", id, store.StatusOnline, at(i)); err != nil {
					t.Errorf("PutStatus(%s) = %v", id, err)
				}
			}
		}
	})
	wg.Go(func() {
		for range 20 {
			if _, err := s.Devices(ctx, store.DeviceFilter{Tenant: "acme", Tag: "core"}); err != nil {
				t.Errorf("Devices() = %v", err)
			}
			if _, err := s.Stats(ctx); err != nil {
				t.Errorf("Stats() = %v", err)
			}
		}
	})
	for _, w := range items {
		ch <- w
	}
	close(ch)
	wg.Wait()

	for d := range devices {
		id := fmt.Sprintf("dev-%03d", d)
		got, err := s.Device(ctx, "acme", id)
		if err != nil {
			t.Fatalf("Device(%s) = %v", id, err)
		}
		if got.AckSeq != perDevice || got.State == nil || !got.State.Time.Equal(at(2)) {
			t.Errorf("Device(%s) AckSeq, state time = %d, %v; want %d, %v", id, got.AckSeq, got.State, perDevice, at(2))
		}
		evs, err := s.Events(ctx, "acme", id, 0, 0)
		if err != nil {
			t.Fatalf("Events(%s) = %v", id, err)
		}
		if len(evs) != perDevice {
			t.Errorf("Events(%s) = %d events, want %d", id, len(evs), perDevice)
		}
	}
	checkStats(t, s, store.Stats{Devices: devices, Events: devices * perDevice})
}

// testOddText stores text that is valid in CBOR but not in every
// database's text type: a store must not refuse it, since a device would
// then re-send the event forever, and must return the documents intact.
func testOddText(t *testing.T, s store.Store) {
	st := newState("acme", "rtr-1", at(0))
	st.Site = "hq\x00"
	st.Tags = []string{"c\x00re", "ünïcödé ✓"}
	st.Inventory[0].Detail = "sysDescr\x00\x01\x7f"
	mustPutState(t, s, st, at(1))
	d, err := s.Device(t.Context(), "acme", "rtr-1")
	if err != nil {
		t.Fatalf("Device() = %v", err)
	}
	if diff := cmp.Diff(withSchema(st), d.State, cmpOpts...); diff != "" {
		t.Errorf("Device().State (-want +got):\n%s", diff)
	}
	evs := newEvents(1, 2)
	evs[0].Message = "read\x00failed"
	evs[1].Reason = "\x00"
	evs[1].Data = map[string]string{"k\x00": "v\x00"}
	ack, err := s.AddEvents(t.Context(), "acme", "rtr-1", evs, at(2))
	if err != nil || ack != 2 {
		t.Fatalf("AddEvents() = %d, %v; want 2, nil", ack, err)
	}
	checkEvents(t, s, "acme", "rtr-1", stored("acme", "rtr-1", at(2), evs...))
}

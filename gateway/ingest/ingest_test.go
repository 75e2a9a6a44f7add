package ingest_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-cmp/cmp"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/ingest"
	"patchbay.dev/gateway/store"
	"patchbay.dev/gateway/store/sqlite"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openStore opens a SQLite store in a temporary directory.
func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "fleet.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// acks records the acks an ingester publishes.
type acks struct {
	mu  sync.Mutex
	got []published
	err error // returned by Publish when set
}

type published struct {
	Topic    string
	Seq      uint64
	Retained bool
}

func (a *acks) Publish(_ context.Context, topic string, payload []byte, retain bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	var ack telemetry.Ack
	if err := telemetry.Unmarshal(payload, &ack); err != nil {
		return err
	}
	a.got = append(a.got, published{topic, ack.Seq, retain})
	return nil
}

// last returns the last ack published and how many there were, checking
// that they never went down.
func (a *acks) last(t testing.TB) (last published, n int) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := 1; i < len(a.got); i++ {
		if a.got[i].Seq < a.got[i-1].Seq {
			t.Errorf("acks went down: %+v", a.got)
		}
	}
	if len(a.got) == 0 {
		return published{}, 0
	}
	return a.got[len(a.got)-1], len(a.got)
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// run starts an ingester over st and stops it when the test ends.
func run(t testing.TB, st store.Store, pub ingest.Publisher) *ingest.Ingester {
	t.Helper()
	in := ingest.New(ingest.Config{Store: st, Publisher: pub, Logger: testLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		in.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return in
}

// deliver hands msgs to in and waits until every one is acknowledged.
func deliver(t testing.TB, in *ingest.Ingester, msgs ...ingest.Message) {
	t.Helper()
	var wg sync.WaitGroup
	for _, m := range msgs {
		wg.Add(1)
		m.Ack = sync.OnceFunc(wg.Done)
		if err := in.Deliver(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("messages not acknowledged within 10s; counters %+v", in.Counters())
	}
}

func event(t testing.TB, tenant, device string, seq uint64) ingest.Message {
	t.Helper()
	b, err := telemetry.Marshal(&telemetry.Event{Seq: seq, Time: time.Unix(int64(seq), 0).UTC(), Type: telemetry.EventInfo, Message: "event " + itoa(seq)})
	if err != nil {
		t.Fatal(err)
	}
	return ingest.Message{Topic: telemetry.Topic(tenant, device, telemetry.KindEvents), Payload: b}
}

func events(t testing.TB, tenant, device string, seqs ...uint64) []ingest.Message {
	var out []ingest.Message
	for _, s := range seqs {
		out = append(out, event(t, tenant, device, s))
	}
	return out
}

func storedSeqs(t testing.TB, st store.Store, tenant, device string) []uint64 {
	t.Helper()
	evs, err := st.Events(t.Context(), tenant, device, 0, store.MaxEventsLimit)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Event.Seq)
	}
	return out
}

func TestRedeliveryChangesNothing(t *testing.T) {
	st := openStore(t)
	pub := &acks{}
	in := run(t, st, pub)
	const topic = "pb/v1/acme/rtr-1/ack"
	deliver(t, in, events(t, "acme", "rtr-1", 1, 2, 3, 4, 5)...)
	first, err := st.Events(t.Context(), "acme", "rtr-1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	last, n := pub.last(t)
	if last != (published{topic, 5, true}) {
		t.Fatalf("last ack published %+v, want 5, retained", last)
	}

	deliver(t, in, events(t, "acme", "rtr-1", 1, 2, 3, 4, 5)...) // the broker redelivers
	again, err := st.Events(t.Context(), "acme", "rtr-1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("redelivery changed stored events (-before +after):\n%s", diff)
	}
	// Whoever re-sends what the ack covers has not seen it: it goes again.
	if last2, n2 := pub.last(t); last2 != last || n2 == n {
		t.Errorf("after redelivery: last ack %+v of %d, want %+v again", last2, n2, last)
	}

	deliver(t, in, events(t, "acme", "rtr-1", 3, 4, 5, 6, 7)...) // the device re-sends, then goes on
	if got, want := storedSeqs(t, st, "acme", "rtr-1"), []uint64{1, 2, 3, 4, 5, 6, 7}; !slices.Equal(got, want) {
		t.Errorf("stored events %v, want %v", got, want)
	}
	if last, _ := pub.last(t); last != (published{topic, 7, true}) {
		t.Errorf("last ack published %+v, want 7, retained", last)
	}
	c := in.Counters()
	if c.Received != 15 || c.Stored != 7 || c.Duplicates != 8 || c.Malformed != 0 {
		t.Errorf("Counters() = %+v, want 15 received, 7 stored, 8 duplicates", c)
	}
}

func TestAckCoversContiguousEvents(t *testing.T) {
	st := openStore(t)
	pub := &acks{}
	in := run(t, st, pub)
	deliver(t, in, events(t, "acme", "rtr-1", 1, 2, 4, 5)...)
	if last, _ := pub.last(t); last != (published{"pb/v1/acme/rtr-1/ack", 2, true}) {
		t.Errorf("with events 1, 2, 4 and 5 stored: last ack %+v, want 2", last)
	}
	deliver(t, in, events(t, "acme", "rtr-1", 3)...)
	if last, _ := pub.last(t); last != (published{"pb/v1/acme/rtr-1/ack", 5, true}) {
		t.Errorf("with events 1 to 5 stored: last ack %+v, want 5", last)
	}
	dev, err := st.Device(t.Context(), "acme", "rtr-1")
	if err != nil || dev.AckSeq != 5 {
		t.Errorf("Device = ack %d, %v; want ack 5", dev.AckSeq, err)
	}
}

func TestRestartedIngesterKnowsTheAck(t *testing.T) {
	st := openStore(t)
	in := run(t, st, &acks{})
	deliver(t, in, events(t, "acme", "rtr-1", 1, 2, 3)...)
	// A second ingester (a restarted gateway) gets a redelivery.
	second := &acks{}
	in2 := run(t, st, second)
	deliver(t, in2, events(t, "acme", "rtr-1", 2, 3)...)
	if c := in2.Counters(); c.Duplicates != 2 || c.Stored != 0 {
		t.Errorf("restarted ingester Counters() = %+v, want 2 duplicates, 0 stored", c)
	}
	// The device evidently missed the ack: it is published again.
	if last, _ := second.last(t); last != (published{"pb/v1/acme/rtr-1/ack", 3, true}) {
		t.Errorf("restarted ingester: last ack %+v, want 3", last)
	}
}

func TestStatusAndState(t *testing.T) {
	st := openStore(t)
	in := run(t, st, &acks{})
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	state, err := telemetry.Marshal(&telemetry.State{
		Site: "hq", Board: "openwrt-ath79-generic", AgentVersion: "1.0.0", Time: at, Tags: []string{"edge"},
		Inventory: []telemetry.Component{{ID: "self", Kind: "firmware", Version: "23.05.2"}},
		Update:    telemetry.Update{Phase: "idle"},
	})
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, in,
		ingest.Message{Topic: "pb/v1/acme/rtr-1/status", Payload: []byte(telemetry.Online)},
		ingest.Message{Topic: "pb/v1/acme/rtr-1/state", Payload: state},
	)
	dev, err := st.Device(t.Context(), "acme", "rtr-1")
	if err != nil {
		t.Fatal(err)
	}
	if dev.Status != "online" || dev.Site != "hq" || dev.Version != "23.05.2" || dev.Board != "openwrt-ath79-generic" {
		t.Errorf("Device = %+v, want online at site hq, board openwrt-ath79-generic, version 23.05.2", dev)
	}
	if c := in.Counters(); c.States != 1 || c.Statuses != 1 || c.Malformed != 0 {
		t.Errorf("Counters() = %+v, want 1 state, 1 status", c)
	}
}

func TestMalformed(t *testing.T) {
	wrongSchema, _ := cbor.Marshal(map[string]any{"schema": 2, "seq": 1})
	noSeq, _ := telemetry.Marshal(&telemetry.Event{Type: telemetry.EventInfo})
	otherDevice, _ := telemetry.Marshal(&telemetry.State{Tenant: "acme", DeviceID: "rtr-2", Time: time.Now()})
	tests := []struct {
		name string
		msg  ingest.Message
	}{
		{"not a device topic", ingest.Message{Topic: "pb/v1/acme/events", Payload: []byte{0xa0}}},
		{"wildcard in topic", ingest.Message{Topic: "pb/v1/acme/+/events", Payload: []byte{0xa0}}},
		{"kind the gateway sends", ingest.Message{Topic: "pb/v1/acme/rtr-1/desired", Payload: []byte{0xa0}}},
		{"event not CBOR", ingest.Message{Topic: "pb/v1/acme/rtr-1/events", Payload: []byte("{}")}},
		{"event truncated", ingest.Message{Topic: "pb/v1/acme/rtr-1/events", Payload: []byte{0xa1, 0x63}}},
		{"event of schema 2", ingest.Message{Topic: "pb/v1/acme/rtr-1/events", Payload: wrongSchema}},
		{"event without sequence number", ingest.Message{Topic: "pb/v1/acme/rtr-1/events", Payload: noSeq}},
		{"state of another device", ingest.Message{Topic: "pb/v1/acme/rtr-1/state", Payload: otherDevice}},
		{"state not CBOR", ingest.Message{Topic: "pb/v1/acme/rtr-1/state", Payload: []byte("x")}},
		{"status neither online nor offline", ingest.Message{Topic: "pb/v1/acme/rtr-1/status", Payload: []byte("maybe")}},
		{"empty status", ingest.Message{Topic: "pb/v1/acme/rtr-1/status"}},
	}
	st := openStore(t)
	in := run(t, st, &acks{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deliver(t, in, tt.msg, event(t, "acme", "good", uint64(i+1)))
			if c := in.Counters(); c.Malformed != int64(i+1) {
				t.Errorf("Counters().Malformed = %d, want %d", c.Malformed, i+1)
			}
		})
	}
	if _, err := st.Device(t.Context(), "acme", "rtr-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Device(acme/rtr-1) = %v, want ErrNotFound: nothing malformed is stored", err)
	}
	if got := len(storedSeqs(t, st, "acme", "good")); got != len(tests) {
		t.Errorf("%d good events stored, want %d", got, len(tests))
	}
}

// flaky fails AddEventBatch until it has been called failures+1 times.
type flaky struct {
	store.Store
	failures atomic.Int64
}

var errTransient = errors.New("database is locked")

func (f *flaky) AddEventBatch(ctx context.Context, batch []store.DeviceEvents, received time.Time) ([]store.EventsResult, error) {
	if f.failures.Add(-1) >= 0 {
		return nil, errTransient
	}
	return f.Store.AddEventBatch(ctx, batch, received)
}

func TestStoreErrorsAreRetried(t *testing.T) {
	st := &flaky{Store: openStore(t)}
	st.failures.Store(2)
	in := run(t, st, &acks{})
	m := event(t, "acme", "rtr-1", 1)
	var acked atomic.Bool
	m.Ack = func() {
		if got := storedSeqs(t, st, "acme", "rtr-1"); !slices.Equal(got, []uint64{1}) {
			t.Errorf("acknowledged with stored events %v, want [1]", got)
		}
		acked.Store(true)
	}
	if err := in.Deliver(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !acked.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !acked.Load() {
		t.Fatalf("not acknowledged; counters %+v", in.Counters())
	}
	if c := in.Counters(); c.StoreRetries != 2 || c.Stored != 1 {
		t.Errorf("Counters() = %+v, want 2 retries and 1 stored", c)
	}
}

func TestAckPublishFailureIsRetriedWithNextEvents(t *testing.T) {
	st := openStore(t)
	pub := &acks{err: errors.New("not connected")}
	in := run(t, st, pub)
	deliver(t, in, events(t, "acme", "rtr-1", 1)...)
	pub.mu.Lock()
	pub.err = nil
	pub.mu.Unlock()
	deliver(t, in, events(t, "acme", "rtr-1", 2)...)
	if last, n := pub.last(t); last != (published{"pb/v1/acme/rtr-1/ack", 2, true}) || n != 1 {
		t.Errorf("acks published: %d, the last %+v; want one, of 2", n, last)
	}
	if c := in.Counters(); c.AckErrors != 1 {
		t.Errorf("Counters().AckErrors = %d, want 1", c.AckErrors)
	}
}

func TestDeliverAfterStop(t *testing.T) {
	in := ingest.New(ingest.Config{Store: openStore(t), Publisher: &acks{}, Logger: testLogger(t)})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	in.Run(ctx)
	if err := in.Deliver(t.Context(), event(t, "acme", "rtr-1", 1)); !errors.Is(err, ingest.ErrStopped) {
		t.Errorf("Deliver after Run returned = %v, want ErrStopped", err)
	}
}

// FuzzIngest hands arbitrary payloads on each kind of device topic to an
// ingester with a real store: nothing panics, and every message is
// acknowledged, stored or counted as malformed.
func FuzzIngest(f *testing.F) {
	ev, _ := telemetry.Marshal(&telemetry.Event{Seq: 1, Type: telemetry.EventResult})
	state, _ := telemetry.Marshal(&telemetry.State{Time: time.Unix(1, 0)})
	for _, seed := range [][]byte{ev, state, []byte("online"), []byte("offline"), nil, {0xa0}} {
		f.Add(seed)
	}
	st := openStore(f)
	in := run(f, st, &acks{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		var msgs []ingest.Message
		for _, k := range []telemetry.Kind{telemetry.KindStatus, telemetry.KindState, telemetry.KindEvents, telemetry.KindAck} {
			msgs = append(msgs, ingest.Message{Topic: telemetry.Topic("fuzz", "dev", k), Payload: payload})
		}
		deliver(t, in, msgs...)
	})
}

package ingest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/ingest"
	"patchbay.dev/gateway/store"
)

// recording is a store that records the batch calls the ingester makes,
// fails the test on single calls (the ingester makes none), refuses every
// entry of the device poison, and holds the first batch call until
// release is closed, so that tests can fill the ingester's queue.
type recording struct {
	store.Store
	t       testing.TB
	entered chan struct{} // closed when the first batch call begins
	release chan struct{}
	once    sync.Once

	mu       sync.Mutex
	events   []int // entries of each AddEventBatch call
	statuses []int // entries of each PutStatusBatch call
	states   []int // entries of each PutStateBatch call
}

func newRecording(t testing.TB, st store.Store) *recording {
	return &recording{Store: st, t: t, entered: make(chan struct{}), release: make(chan struct{})}
}

func (r *recording) hold() {
	r.once.Do(func() {
		close(r.entered)
		<-r.release
	})
}

func (r *recording) calls() (events, statuses, states []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events), slices.Clone(r.statuses), slices.Clone(r.states)
}

func (r *recording) PutStatusBatch(ctx context.Context, statuses []store.DeviceStatus) ([]error, error) {
	r.hold()
	r.mu.Lock()
	r.statuses = append(r.statuses, len(statuses))
	r.mu.Unlock()
	return r.Store.PutStatusBatch(ctx, statuses)
}

func (r *recording) PutStateBatch(ctx context.Context, states []telemetry.State, received time.Time) ([]error, error) {
	r.hold()
	r.mu.Lock()
	r.states = append(r.states, len(states))
	r.mu.Unlock()
	return r.Store.PutStateBatch(ctx, states, received)
}

func (r *recording) AddEventBatch(ctx context.Context, batch []store.DeviceEvents, received time.Time) ([]store.EventsResult, error) {
	r.hold()
	r.mu.Lock()
	r.events = append(r.events, len(batch))
	r.mu.Unlock()
	var (
		pass    []store.DeviceEvents
		passIdx []int
	)
	res := make([]store.EventsResult, len(batch))
	for i, e := range batch {
		if e.Device == "poison" {
			res[i].Err = fmt.Errorf("device %s: %w", e.Device, store.ErrInvalid)
			continue
		}
		pass, passIdx = append(pass, e), append(passIdx, i)
	}
	got, err := r.Store.AddEventBatch(ctx, pass, received)
	if err != nil {
		return nil, err
	}
	for j, i := range passIdx {
		res[i] = got[j]
	}
	return res, nil
}

func (r *recording) AddEvents(context.Context, string, string, []telemetry.Event, time.Time) (uint64, error) {
	r.t.Error("the ingester called AddEvents, want AddEventBatch")
	return 0, store.ErrInvalid
}

func (r *recording) PutStatus(context.Context, string, string, string, time.Time) error {
	r.t.Error("the ingester called PutStatus, want PutStatusBatch")
	return store.ErrInvalid
}

func (r *recording) PutState(context.Context, telemetry.State, time.Time) error {
	r.t.Error("the ingester called PutState, want PutStateBatch")
	return store.ErrInvalid
}

// batchAcks is an AsyncPublisher that records how many acks each batch
// publishes.
type batchAcks struct {
	acks
	batches []int
}

func (b *batchAcks) PublishAsync(msgs []ingest.Publication) func(context.Context) []error {
	b.mu.Lock()
	b.batches = append(b.batches, len(msgs))
	b.mu.Unlock()
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		errs[i] = b.Publish(context.Background(), m.Topic, m.Payload, m.Retain)
	}
	return func(context.Context) []error { return errs }
}

func (b *batchAcks) sizes() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.batches)
}

// waitCounters waits until the ingester's counters are as want says: the
// broker's answers to acks are counted after the messages are
// acknowledged.
func waitCounters(t *testing.T, in *ingest.Ingester, want string, ok func(ingest.Counters) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(in.Counters()) {
		if time.Now().After(deadline) {
			t.Fatalf("Counters() = %+v after 10s, want %s", in.Counters(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deliverHeld delivers first, waits until the ingester holds it in the
// store, then delivers msgs, which queue up meanwhile, releases the store
// and waits until every message is acknowledged.
func deliverHeld(t *testing.T, in *ingest.Ingester, rec *recording, first ingest.Message, msgs ...ingest.Message) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1 + len(msgs))
	first.Ack = sync.OnceFunc(wg.Done)
	if err := in.Deliver(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rec.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the ingester did not call the store")
	}
	for _, m := range msgs {
		m.Ack = sync.OnceFunc(wg.Done)
		if err := in.Deliver(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	close(rec.release)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("messages not acknowledged within 10s; counters %+v", in.Counters())
	}
}

func status(device, value string) ingest.Message {
	return ingest.Message{Topic: telemetry.Topic("acme", device, telemetry.KindStatus), Payload: []byte(value)}
}

func state(t testing.TB, device string) ingest.Message {
	t.Helper()
	b, err := telemetry.Marshal(&telemetry.State{Site: "hq", Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return ingest.Message{Topic: telemetry.Topic("acme", device, telemetry.KindState), Payload: b}
}

// TestBatchIsOneStoreCallPerKind delivers what a fleet connecting sends:
// statuses, states and events of many devices. Queued together, they take
// one store call per kind and one batch of acks.
func TestBatchIsOneStoreCallPerKind(t *testing.T) {
	const devices = 40
	st := openStore(t)
	rec := newRecording(t, st)
	pub := &batchAcks{}
	in := run(t, rec, pub)
	var msgs []ingest.Message
	for d := range devices {
		id := fmt.Sprintf("rtr-%02d", d)
		msgs = append(msgs, status(id, telemetry.Online), state(t, id))
		msgs = append(msgs, events(t, "acme", id, 1, 2)...)
	}
	deliverHeld(t, in, rec, status("gate", telemetry.Online), msgs...)

	evCalls, statusCalls, stateCalls := rec.calls()
	if !slices.Equal(evCalls, []int{devices}) || !slices.Equal(statusCalls, []int{1, devices}) || !slices.Equal(stateCalls, []int{devices}) {
		t.Errorf("store calls: AddEventBatch %v, PutStatusBatch %v, PutStateBatch %v; want [%d], [1 %d], [%d]",
			evCalls, statusCalls, stateCalls, devices, devices, devices)
	}
	if got := pub.sizes(); !slices.Equal(got, []int{devices}) {
		t.Errorf("ack batches published: %v, want one of %d", got, devices)
	}
	for d := range devices {
		id := fmt.Sprintf("rtr-%02d", d)
		dev, err := st.Device(t.Context(), "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		if dev.AckSeq != 2 || dev.Status != telemetry.Online || dev.Site != "hq" {
			t.Errorf("Device(%s) = ack %d, status %q, site %q; want 2, online, hq", id, dev.AckSeq, dev.Status, dev.Site)
		}
	}
	waitCounters(t, in, fmt.Sprintf("%d stored, %d statuses, %d states, %d acks published", 2*devices, devices+1, devices, devices),
		func(c ingest.Counters) bool {
			return c.Stored == 2*devices && c.Statuses == devices+1 && c.States == devices && c.AcksPublished == devices
		})
}

// TestRefusedDeviceKeepsTheOthers: when the store refuses one device's
// entry of a batch, that device's messages are dropped as malformed and
// the other devices' events are stored and acknowledged.
func TestRefusedDeviceKeepsTheOthers(t *testing.T) {
	st := openStore(t)
	rec := newRecording(t, st)
	pub := &batchAcks{}
	in := run(t, rec, pub)
	msgs := slices.Concat(events(t, "acme", "rtr-1", 1, 2), events(t, "acme", "poison", 1, 2, 3), events(t, "acme", "rtr-2", 1))
	deliverHeld(t, in, rec, status("gate", telemetry.Online), msgs...)
	if got := storedSeqs(t, st, "acme", "rtr-1"); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("rtr-1: stored %v, want [1 2]", got)
	}
	if got := storedSeqs(t, st, "acme", "rtr-2"); !slices.Equal(got, []uint64{1}) {
		t.Errorf("rtr-2: stored %v, want [1]", got)
	}
	waitCounters(t, in, "3 stored, 3 malformed, 2 acks published", func(c ingest.Counters) bool {
		return c.Stored == 3 && c.Malformed == 3 && c.AcksPublished == 2
	})
	pub.mu.Lock()
	defer pub.mu.Unlock()
	for _, p := range pub.got {
		if p.Topic == "pb/v1/acme/poison/ack" {
			t.Errorf("ack published for the refused device: %+v", p)
		}
	}
}

// TestResendSkipsTheStore: events a device sends again that its known ack
// covers do not reach the store; only the ack is published again.
func TestResendSkipsTheStore(t *testing.T) {
	st := openStore(t)
	rec := newRecording(t, st)
	close(rec.release)
	pub := &batchAcks{}
	in := run(t, rec, pub)
	deliver(t, in, events(t, "acme", "rtr-1", 1, 2, 3)...)
	evCalls, _, _ := rec.calls()
	_, acksBefore := pub.last(t)

	deliver(t, in, events(t, "acme", "rtr-1", 2, 3)...) // the device did not see the ack
	if got, _, _ := rec.calls(); len(got) != len(evCalls) {
		t.Errorf("AddEventBatch calls: %v after a pure re-send, want %v", got, evCalls)
	}
	last, acksAfter := pub.last(t)
	if last != (published{"pb/v1/acme/rtr-1/ack", 3, true}) || acksAfter == acksBefore {
		t.Errorf("after the re-send: %d acks, the last %+v; want ack 3 published again", acksAfter, last)
	}

	deliver(t, in, events(t, "acme", "rtr-1", 3, 4)...) // a re-send with a new event goes to the store
	if got, _, _ := rec.calls(); len(got) != len(evCalls)+1 {
		t.Errorf("AddEventBatch calls: %v, want one more than %v", got, evCalls)
	}
	if last, _ := pub.last(t); last.Seq != 4 {
		t.Errorf("last ack %+v, want 4", last)
	}
	if c := in.Counters(); c.Stored != 4 || c.Duplicates != 3 {
		t.Errorf("Counters() = %+v, want 4 stored, 3 duplicates", c)
	}
}

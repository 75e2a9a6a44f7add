package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/outbox"
	"patchbay.dev/agent/report"
	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/broker/brokertest"
	"patchbay.dev/gateway/ingest"
	"patchbay.dev/gateway/store"
	"patchbay.dev/gateway/store/sqlite"
	"patchbay.dev/testbench/services"
)

// Parameters of TestBrokerOutage.
const (
	outageAgents = 4
	// outage is how long the broker stays dead, as the issue asks.
	outage = 30 * time.Second
	// emitEvery is how often each agent emits an event, outage or not.
	emitEvery = 100 * time.Millisecond
	// resendAfter and keepAlive are the agents'; short, so that the test
	// is quick to notice and fill gaps.
	resendAfter = 2 * time.Second
	keepAlive   = 2 * time.Second
	// outboxBytes bounds each agent's outbox: far more than the test
	// emits, so that nothing is dropped.
	outboxBytes = 4 << 20
	// recovery bounds the wait, once the broker is back, until every
	// outbox is acknowledged: paho's reconnect back-off doubles from 1 s,
	// so an agent that kept running may wait up to 32 s after a 30 s
	// outage, and one restarted during the outage retries its first
	// connection every 15 s.
	recovery = 90 * time.Second
)

// TestBrokerOutage kills mosquitto (SIGKILL, persistence on) for 30 s
// while agents keep emitting events and are restarted on their outbox
// directories, during the outage and while they catch up after it. Once
// every outbox is acknowledged, the store must hold exactly the events
// each agent emitted, once each, as emitted.
func TestBrokerOutage(t *testing.T) {
	began := time.Now()
	m := services.StartMosquitto(t, services.MosquittoConfig{Persistence: true})
	st := openStore(t)
	gw := startGateway(t, m.URL, st)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	agents := make([]*agent, outageAgents)
	for i := range agents {
		a := newAgent(t, fmt.Sprintf("tenant-%d", i), fmt.Sprintf("rtr-%d", i), m.URL)
		agents[i] = a
		wg.Go(func() { a.live(ctx) })
	}
	stopAgents := sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stopAgents)

	waitUntil(t, "every agent's first events acknowledged", recovery, func() bool {
		for _, a := range agents {
			if a.stats().Acked < 5 {
				return false
			}
		}
		return true
	})
	m.Kill()
	killed := time.Now()
	t.Logf("broker killed after %v", killed.Sub(began).Round(time.Millisecond))
	sleepUntil(t, killed.Add(outage/3))
	agents[0].restartNow(t)
	agents[1].restartNow(t)
	sleepUntil(t, killed.Add(2*outage/3))
	agents[0].restartNow(t)
	agents[2].restartNow(t)
	sleepUntil(t, killed.Add(outage))
	m.Start()
	back := time.Now()
	t.Logf("broker back after an outage of %v", back.Sub(killed).Round(time.Millisecond))
	sleepUntil(t, back.Add(time.Second))
	agents[1].restartNow(t) // while it catches up
	sleepUntil(t, back.Add(2*time.Second))
	for _, a := range agents {
		a.stopEmitting()
	}

	caughtUp := make([]time.Duration, len(agents))
	waitUntil(t, "every outbox acknowledged", recovery, func() bool {
		all := true
		for i, a := range agents {
			if s := a.stats(); s.Pending > 0 || s.Acked < s.LastSeq {
				all = false
			} else if caughtUp[i] == 0 {
				caughtUp[i] = time.Since(back).Round(time.Millisecond)
			}
		}
		return all
	})
	t.Logf("outboxes acknowledged, after the broker came back: %v", caughtUp)
	stopAgents()
	gw.stop()

	total := 0
	for _, a := range agents {
		total += a.check(t, st)
	}
	// The ingester's Stored counter may count an event twice (stored above
	// a gap, then re-sent with the events of the gap); the store may not.
	if s, err := st.Stats(t.Context()); err != nil || s.Events != int64(total) || s.Devices != int64(len(agents)) {
		t.Errorf("store Stats() = %+v, %v; want %d devices, %d events", s, err, len(agents), total)
	}
	if c := gw.in.Counters(); c.Malformed != 0 {
		t.Errorf("ingest Counters() = %+v, want none malformed", c)
	}
	brokertest.NoGoroutines(t, "github.com/eclipse/paho.mqtt.golang", "patchbay.dev/agent/report", "patchbay.dev/gateway/ingest")
	t.Logf("%d events from %d agents stored once each; the test took %v", total, len(agents), time.Since(began).Round(time.Millisecond))
}

// agent is one device: a Reporter on its outbox directory, emitting an
// event every emitEvery until told to stop emitting, and restarted
// (reporter stopped, outbox closed and opened again, a new reporter) when
// told to. Its live goroutine owns the reporter and the outbox.
type agent struct {
	t              *testing.T
	tenant, device string
	dir, brokerURL string
	log            *slog.Logger
	restart        chan struct{} // unbuffered: a send is taken by live
	quiet          chan struct{} // closed: emit no more
	quietOnce      sync.Once

	mu      sync.Mutex
	ob      *outbox.Outbox    // nil while restarting
	lastSt  outbox.Stats      // the stats when ob was last closed
	emitted []telemetry.Event // every event emitted, with its sequence number
	lives   int
}

func newAgent(t *testing.T, tenant, device, brokerURL string) *agent {
	return &agent{
		t:      t,
		tenant: tenant, device: device,
		dir:       filepath.Join(t.TempDir(), "outbox"),
		brokerURL: brokerURL,
		log:       testLogger(t).With("device_id", device),
		restart:   make(chan struct{}),
		quiet:     make(chan struct{}),
	}
}

// live runs the agent until ctx ends, reporting failures with t.Errorf.
func (a *agent) live(ctx context.Context) {
	tick := time.NewTicker(emitEvery)
	defer tick.Stop()
	quiet := a.quiet
	for {
		r, stop, err := a.start(ctx)
		if err != nil {
			a.t.Errorf("%s/%s: start: %v", a.tenant, a.device, err)
			return
		}
		for restart := false; !restart; {
			select {
			case <-ctx.Done():
				stop()
				return
			case <-a.restart:
				restart = true
			case <-quiet:
				quiet = nil
				tick.Stop()
			case <-tick.C:
				if err := a.emit(ctx, r); err != nil {
					a.t.Errorf("%s/%s: %v", a.tenant, a.device, err)
					stop()
					return
				}
			}
		}
		stop()
	}
}

// start opens the outbox and runs a new reporter on it; stop stops the
// reporter and closes the outbox.
func (a *agent) start(ctx context.Context) (r *report.Reporter, stop func(), err error) {
	ob, err := outbox.Open(a.dir, outboxBytes, a.log)
	if err != nil {
		return nil, nil, err
	}
	r, err = report.New(report.Options{
		Tenant:      a.tenant,
		DeviceID:    a.device,
		Broker:      config.Broker{URL: a.brokerURL, KeepAlive: config.Duration(keepAlive)},
		Outbox:      ob,
		Handler:     nopHandler{},
		Logger:      a.log,
		ResendAfter: resendAfter,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%v (outbox closed: %v)", err, ob.Close())
	}
	a.mu.Lock()
	a.ob = ob
	a.lives++
	a.mu.Unlock()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	stop = func() {
		began := time.Now()
		cancel()
		if err := <-done; err != nil {
			a.t.Errorf("%s/%s: Run = %v, want nil", a.tenant, a.device, err)
		}
		a.mu.Lock()
		a.lastSt = ob.Stats()
		a.ob = nil
		a.mu.Unlock()
		if err := ob.Close(); err != nil {
			a.t.Errorf("%s/%s: close outbox: %v", a.tenant, a.device, err)
		}
		a.t.Logf("%s/%s: reporter stopped and outbox closed in %v", a.tenant, a.device, time.Since(began).Round(time.Millisecond))
	}
	return r, stop, nil
}

// emit emits the agent's next event and records it.
func (a *agent) emit(ctx context.Context, r *report.Reporter) error {
	a.mu.Lock()
	n, life := len(a.emitted), a.lives
	a.mu.Unlock()
	ev := telemetry.Event{
		Time:    time.Now().UTC(),
		Type:    telemetry.EventInfo,
		Phase:   "idle",
		Message: fmt.Sprintf("event %d of %s/%s", n+1, a.tenant, a.device),
		Data:    map[string]string{"life": fmt.Sprint(life)},
	}
	seq, err := r.Emit(ctx, ev)
	if err != nil {
		return err
	}
	ev.Seq = seq
	a.mu.Lock()
	a.emitted = append(a.emitted, ev)
	a.mu.Unlock()
	return nil
}

// restartNow asks live to restart the agent, waiting until it takes the
// request (not until the new reporter runs).
func (a *agent) restartNow(t *testing.T) {
	t.Helper()
	select {
	case a.restart <- struct{}{}:
	case <-time.After(recovery):
		t.Fatalf("agent %s/%s did not take a restart request within %v", a.tenant, a.device, recovery)
	}
}

func (a *agent) stopEmitting() { a.quietOnce.Do(func() { close(a.quiet) }) }

// stats returns the counters of the agent's outbox.
func (a *agent) stats() outbox.Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ob == nil {
		return a.lastSt
	}
	return a.ob.Stats()
}

// check compares what the store holds of the agent with what it emitted,
// and returns how many events that is.
func (a *agent) check(t *testing.T, st store.Store) int {
	t.Helper()
	a.mu.Lock()
	want := make([]telemetry.Event, len(a.emitted))
	copy(want, a.emitted)
	lives := a.lives
	a.mu.Unlock()
	for i := range want {
		want[i].Schema = telemetry.SchemaVersion
		if want[i].Seq != uint64(i+1) {
			t.Errorf("%s/%s: emitted event %d got sequence number %d, want %d", a.tenant, a.device, i+1, want[i].Seq, i+1)
		}
	}
	got := storedEvents(t, st, a.tenant, a.device)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s/%s: stored events differ from the %d emitted (-emitted +stored):\n%s", a.tenant, a.device, len(want), diff)
	}
	dev, err := st.Device(t.Context(), a.tenant, a.device)
	if err != nil {
		t.Fatal(err)
	}
	if dev.AckSeq != uint64(len(want)) {
		t.Errorf("%s/%s: store's ack %d, want %d", a.tenant, a.device, dev.AckSeq, len(want))
	}
	t.Logf("%s/%s: %d events emitted over %d lives, all stored once", a.tenant, a.device, len(want), lives)
	return len(want)
}

// storedEvents reads every event of a device from the store.
func storedEvents(t *testing.T, st store.Store, tenant, device string) []telemetry.Event {
	t.Helper()
	var out []telemetry.Event
	for {
		var after uint64
		if len(out) > 0 {
			after = out[len(out)-1].Seq
		}
		page, err := st.Events(t.Context(), tenant, device, after, store.MaxEventsLimit)
		if err != nil {
			t.Fatalf("Events(%s/%s after %d): %v", tenant, device, after, err)
		}
		if len(page) == 0 {
			return out
		}
		for _, se := range page {
			out = append(out, se.Event)
		}
	}
}

// nopHandler takes the gateway's commands and desired state and does
// nothing; the gateway of this test sends none.
type nopHandler struct{}

func (nopHandler) Command(context.Context, telemetry.Command) error { return nil }
func (nopHandler) Desired(context.Context, telemetry.Desired) error { return nil }

// gateway is an ingester reading from an external broker through a Client.
type gateway struct {
	in     *ingest.Ingester
	client *ingest.Client
	stop   func() // idempotent
}

// startGateway starts a gateway that reads brokerURL into st, with a
// persistent session, until stop is called or the test ends. It returns
// once the gateway is connected.
func startGateway(t *testing.T, brokerURL string, st store.Store) *gateway {
	t.Helper()
	logger := testLogger(t).With("component", "gateway")
	client, err := ingest.NewClient(ingest.ClientConfig{URL: brokerURL, ClientID: "e2e-gateway"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	in := ingest.New(ingest.Config{Store: st, Publisher: client, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { in.Run(ctx) })
	wg.Go(func() {
		if err := client.Run(ctx, in); err != nil {
			t.Errorf("gateway client: %v", err)
		}
	})
	g := &gateway{in: in, client: client, stop: sync.OnceFunc(func() { cancel(); wg.Wait() })}
	t.Cleanup(g.stop)
	waitUntil(t, "gateway connected", 10*time.Second, func() bool { return client.Check(ctx) == nil })
	return g
}

// openStore opens a SQLite store in a temporary directory.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "fleet.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// waitUntil polls cond until it holds, failing the test after patience.
func waitUntil(t *testing.T, what string, patience time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, patience)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sleepUntil sleeps until at, or fails the test if it ends first.
func sleepUntil(t *testing.T, at time.Time) {
	t.Helper()
	select {
	case <-time.After(time.Until(at)):
	case <-t.Context().Done():
		t.Fatal("test ended while waiting")
	}
}

package fleet_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/broker"
	"patchbay.dev/gateway/broker/brokertest"
	"patchbay.dev/gateway/ingest"
	"patchbay.dev/gateway/store"
	"patchbay.dev/gateway/store/sqlite"
	"patchbay.dev/testbench/fleet"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// gateway is the embedded broker of gateway/broker with development
// authentication, read in process by an ingester into SQLite, as
// "patchbay-gateway serve --insecure-dev-auth" runs them.
type gateway struct {
	url   string
	b     *broker.Broker
	in    *ingest.Ingester
	store *sqlite.Store
	// subscribe makes the ingester read the broker, until stop.
	subscribe func(t *testing.T)
	stop      func() // idempotent
}

// startGateway starts a gateway whose ingester reads the broker.
func startGateway(t *testing.T) *gateway {
	t.Helper()
	g := newGateway(t)
	g.subscribe(t)
	return g
}

// newGateway starts a gateway whose ingester does not read the broker
// until subscribe is called.
func newGateway(t *testing.T) *gateway {
	t.Helper()
	logger := testLogger(t)
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "fleet.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b, err := broker.New(broker.Config{Addr: "127.0.0.1:0", InsecureDevAuth: true}, logger)
	if err != nil {
		t.Fatal(err)
	}
	in := ingest.New(ingest.Config{Store: st, Publisher: b, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { in.Run(ctx) })
	g := &gateway{url: "tcp://" + b.Addr().String(), b: b, in: in, store: st}
	g.subscribe = func(t *testing.T) {
		t.Helper()
		if err := ingest.SubscribeInline(ctx, b, in); err != nil {
			t.Fatal(err)
		}
	}
	g.stop = sync.OnceFunc(func() {
		b.Close()
		cancel()
		wg.Wait()
	})
	t.Cleanup(g.stop)
	return g
}

// TestFleet runs 200 devices against the embedded broker and checks that
// the gateway stored every event once and acknowledged it, and that Run
// left no connection or goroutine behind.
func TestFleet(t *testing.T) {
	const devices, events = 200, 10
	g := startGateway(t)
	cfg := fleet.Config{
		BrokerURL: g.url,
		Tenant:    "acme",
		Devices:   devices,
		Prefix:    "sim-",
		Sites:     []string{"hq", "branch"},
		Events:    events,
		InFlight:  8,
		Username:  fleet.DevUsername,
		Payload:   64,
		Connect:   time.Second,
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	began := time.Now()
	stats, err := fleet.Run(ctx, cfg, nil, testLogger(t))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("%d devices, %d events each: %+v in %v", devices, events, stats, time.Since(began).Round(time.Millisecond))
	want := fleet.Stats{Devices: devices, Connected: devices, Published: devices*events + stats.Resent, Resent: stats.Resent, Acked: devices * events, Done: devices}
	if stats != want {
		t.Errorf("Run = %+v, want %+v", stats, want)
	}

	// Every device said "online" and "offline"; the gateway may still be
	// storing the last of them.
	waitUntil(t, "every status stored", 30*time.Second, func() bool { return g.in.Counters().Statuses == 2*devices })
	for i := range devices {
		id := fleet.DeviceID(cfg.Prefix, i)
		dev, err := g.store.Device(t.Context(), cfg.Tenant, id)
		if err != nil {
			t.Fatalf("device %s: %v", id, err)
		}
		if dev.AckSeq != events || dev.Status != telemetry.Offline || dev.Site != cfg.Sites[i%2] || dev.Phase != "idle" {
			t.Errorf("device %s: ack %d, status %q, site %q, phase %q; want ack %d, offline, site %q, idle",
				id, dev.AckSeq, dev.Status, dev.Site, dev.Phase, events, cfg.Sites[i%2])
		}
	}
	s, err := g.store.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s != (store.Stats{Devices: devices, Events: devices * events}) {
		t.Errorf("store Stats() = %+v, want %d devices and %d events", s, devices, devices*events)
	}
	if c := g.in.Counters(); c.Stored != devices*events || c.Malformed != 0 {
		t.Errorf("ingest Counters() = %+v, want %d stored and none malformed", c, devices*events)
	}
	if c := g.b.Stats().ClientsConnected; c != 0 {
		t.Errorf("broker: %d clients still connected after Run, want 0", c)
	}
	g.stop()
	brokertest.NoGoroutines(t, "github.com/eclipse/paho.mqtt.golang", "github.com/mochi-mqtt/server")
}

// TestFleetResends starts the devices before the gateway subscribes: the
// broker drops their events, the ack does not move, and the devices send
// every event again after ResendAfter, until all are stored.
func TestFleetResends(t *testing.T) {
	const devices, events = 20, 10
	g := newGateway(t)
	cfg := fleet.Config{
		BrokerURL: g.url, Tenant: "acme", Devices: devices, Prefix: "late-", Events: events,
		Username: fleet.DevUsername, ResendAfter: 300 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var (
		counters fleet.Counters
		stats    fleet.Stats
		runErr   error
		wg       sync.WaitGroup
	)
	wg.Go(func() { stats, runErr = fleet.Run(ctx, cfg, &counters, testLogger(t)) })
	deadline := time.Now().Add(30 * time.Second)
	for counters.Snapshot().Published < devices*events {
		if time.Now().After(deadline) {
			t.Fatalf("devices published %d events in 30 s, want %d", counters.Snapshot().Published, devices*events)
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.subscribe(t)
	wg.Wait()
	if runErr != nil {
		t.Fatalf("Run: %v", runErr)
	}
	if stats.Acked != devices*events || stats.Done != devices || stats.Resent < devices*events {
		t.Errorf("Run = %+v, want %d acknowledged from %d devices, and every event sent again", stats, devices*events, devices)
	}
	s, err := g.store.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Events != devices*events {
		t.Errorf("store Stats() = %+v, want %d events", s, devices*events)
	}
}

// TestFleetGivesUp ends the context while the gateway does not answer:
// Run returns an error naming the devices, and leaves nothing behind.
func TestFleetGivesUp(t *testing.T) {
	g := newGateway(t) // never subscribes: nothing is acknowledged
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	stats, err := fleet.Run(ctx, fleet.Config{
		BrokerURL: g.url, Tenant: "acme", Devices: 10, Prefix: "lost-", Events: 3, Username: fleet.DevUsername,
	}, nil, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "lost-00001: 0 of 3 events acknowledged") || !strings.Contains(err.Error(), "and 5 more devices") {
		t.Errorf("Run = %v, want an error naming lost-00001 and 5 more devices", err)
	}
	if stats.Connected != 10 || stats.Online != 0 || stats.Done != 0 {
		t.Errorf("Run = %+v, want 10 connected, none online now, none done", stats)
	}
	g.stop()
	brokertest.NoGoroutines(t, "github.com/eclipse/paho.mqtt.golang", "github.com/mochi-mqtt/server")
}

func TestConfigRefused(t *testing.T) {
	tests := []struct {
		name string
		cfg  fleet.Config
	}{
		{"no broker", fleet.Config{Tenant: "acme", Devices: 1}},
		{"no devices", fleet.Config{BrokerURL: "tcp://127.0.0.1:1", Tenant: "acme"}},
		{"tenant with a slash", fleet.Config{BrokerURL: "tcp://127.0.0.1:1", Tenant: "a/b", Devices: 1}},
		{"prefix with a wildcard", fleet.Config{BrokerURL: "tcp://127.0.0.1:1", Tenant: "acme", Devices: 1, Prefix: "+"}},
		{"negative events", fleet.Config{BrokerURL: "tcp://127.0.0.1:1", Tenant: "acme", Devices: 1, Events: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := fleet.Run(t.Context(), tt.cfg, nil, nil); err == nil {
				t.Errorf("Run(%+v) = nil error, want one", tt.cfg)
			}
		})
	}
}

// waitUntil polls cond until it holds, failing the test after patience.
func waitUntil(t *testing.T, what string, patience time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, patience)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

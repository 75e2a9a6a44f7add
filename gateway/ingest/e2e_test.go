package ingest_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/broker"
	"patchbay.dev/gateway/ingest"
	"patchbay.dev/gateway/ingest/ingesttest"
	"patchbay.dev/gateway/store"
	"patchbay.dev/gateway/store/sqlite"
	"patchbay.dev/testbench/services"
)

const ackTimeout = 30 * time.Second

func TestMain(m *testing.M) { services.Main(m) }

// gateway is an ingester reading from an external broker through a Client.
type gateway struct {
	in     *ingest.Ingester
	client *ingest.Client
	stop   func()
}

// startGateway starts a gateway that reads brokerURL with clientID into
// st, until stop is called or the test ends.
func startGateway(t testing.TB, brokerURL, clientID string, st store.Store) *gateway {
	t.Helper()
	logger := testLogger(t).With("gateway", clientID)
	client, err := ingest.NewClient(ingest.ClientConfig{URL: brokerURL, ClientID: clientID}, logger)
	if err != nil {
		t.Fatal(err)
	}
	in := ingest.New(ingest.Config{Store: st, Publisher: client, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { in.Run(ctx) })
	wg.Go(func() {
		if err := client.Run(ctx, in); err != nil {
			t.Errorf("client %s: %v", clientID, err)
		}
	})
	g := &gateway{in: in, client: client, stop: sync.OnceFunc(func() { cancel(); wg.Wait() })}
	t.Cleanup(g.stop)
	deadline := time.Now().Add(10 * time.Second)
	for client.Check(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("gateway %s: not connected to %s", clientID, brokerURL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return g
}

func checkDevice(t testing.TB, st store.Store, d *ingesttest.Device) {
	t.Helper()
	var want []uint64
	for s := uint64(1); s <= d.Seq(); s++ {
		want = append(want, s)
	}
	if got := storedSeqs(t, st, d.Tenant, d.ID); !slices.Equal(got, want) {
		t.Errorf("device %s/%s: stored events %v, want 1..%d once each", d.Tenant, d.ID, got, d.Seq())
	}
	dev, err := st.Device(t.Context(), d.Tenant, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dev.AckSeq != d.Seq() || dev.Status != telemetry.Online {
		t.Errorf("device %s/%s: ack %d, status %q; want ack %d, online", d.Tenant, d.ID, dev.AckSeq, dev.Status, d.Seq())
	}
}

func TestEmbeddedBroker(t *testing.T) {
	st := openStore(t)
	b, err := broker.New(broker.Config{Addr: "127.0.0.1:0", InsecureDevAuth: true}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	in := run(t, st, b)
	if err := ingest.SubscribeInline(t.Context(), b, in); err != nil {
		t.Fatal(err)
	}
	url := "tcp://" + b.Addr().String()
	var devs []*ingesttest.Device
	for i := range 3 {
		d := ingesttest.Connect(t, url, nil, "acme", fmt.Sprintf("rtr-%d", i))
		d.PublishState(t, &telemetry.State{Site: "hq", Board: "openwrt-ath79-generic", Time: time.Now().UTC()})
		d.Send(t, 100)
		devs = append(devs, d)
	}
	for _, d := range devs {
		d.WaitAck(t, 0, ackTimeout)
		checkDevice(t, st, d)
	}
	if c := in.Counters(); c.Stored != 300 || c.Duplicates != 0 || c.Malformed != 0 || c.States != 3 {
		t.Errorf("Counters() = %+v, want 300 stored, 3 states, nothing else", c)
	}
	// The ack is retained: a device that connects again learns it at once.
	devs[0].Disconnect()
	again := ingesttest.Connect(t, url, nil, "acme", "rtr-0")
	deadline := time.Now().Add(10 * time.Second)
	for again.Ack() != 100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if again.Ack() != 100 {
		t.Errorf("reconnected device: retained ack %d, want 100", again.Ack())
	}
}

func TestExternalBroker(t *testing.T) {
	m := services.StartMosquitto(t, services.MosquittoConfig{})
	st := openStore(t)
	g := startGateway(t, m.URL, "gw-1", st)
	d := ingesttest.Connect(t, m.URL, nil, "acme", "rtr-1")
	d.Send(t, 50)
	d.WaitAck(t, 0, ackTimeout)
	checkDevice(t, st, d)

	// While the gateway is away, its persistent session keeps the events.
	g.stop()
	d.Send(t, 50)
	time.Sleep(200 * time.Millisecond)
	if d.Ack() != 50 {
		t.Fatalf("ack %d while the gateway is stopped, want 50", d.Ack())
	}
	g = startGateway(t, m.URL, "gw-1", st)
	d.WaitAck(t, 0, ackTimeout) // no re-sending needed
	checkDevice(t, st, d)
	if c := g.in.Counters(); c.Stored != 50 {
		t.Errorf("restarted gateway Counters() = %+v, want the 50 queued events stored", c)
	}
}

// TestTwoGatewaysShareTheStream runs two gateways, each with its own
// handle on one SQLite file, on one shared subscription of mosquitto:
// both get part of the stream, and every event is stored once.
func TestTwoGatewaysShareTheStream(t *testing.T) {
	const devices, perDevice = 10, 50
	m := services.StartMosquitto(t, services.MosquittoConfig{})
	path := filepath.Join(t.TempDir(), "fleet.db")
	var gws []*gateway
	for i := range 2 {
		gws = append(gws, startGateway(t, m.URL, fmt.Sprintf("gw-%d", i), openStoreAt(t, path)))
	}
	var devs []*ingesttest.Device
	for i := range devices {
		d := ingesttest.Connect(t, m.URL, nil, "acme", fmt.Sprintf("rtr-%d", i))
		d.Send(t, perDevice)
		devs = append(devs, d)
	}
	st := openStoreAt(t, path)
	for _, d := range devs {
		d.WaitAck(t, 0, ackTimeout)
		checkDevice(t, st, d)
	}
	stats, err := st.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events != devices*perDevice {
		t.Errorf("store holds %d events, want %d", stats.Events, devices*perDevice)
	}
	var stored, dups int64
	for i, g := range gws {
		c := g.in.Counters()
		t.Logf("gateway %d: %+v", i, c)
		if c.Received == 0 {
			t.Errorf("gateway %d received nothing: the subscription is not shared", i)
		}
		stored += c.Stored
		dups += c.Duplicates
	}
	if stored != devices*perDevice || dups != 0 {
		t.Errorf("gateways stored %d events with %d duplicates, want %d and 0", stored, dups, devices*perDevice)
	}
}

func openStoreAt(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestBrokerAwayAndBack starts the gateway while mosquitto is down, then
// restarts mosquitto (without persistence) under a connected gateway and
// device: the gateway connects when it can, subscribes again after the
// restart, and the device's re-sent events are all stored.
func TestBrokerAwayAndBack(t *testing.T) {
	m := services.StartMosquitto(t, services.MosquittoConfig{})
	m.Stop()
	st := openStore(t)
	logger := testLogger(t)
	client, err := ingest.NewClient(ingest.ClientConfig{URL: m.URL, ClientID: "gw-1"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	in := ingest.New(ingest.Config{Store: st, Publisher: client, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { in.Run(ctx) })
	wg.Go(func() { client.Run(ctx, in) })
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(300 * time.Millisecond)
	if client.Check(ctx) == nil {
		t.Fatal("Check() = nil with the broker down")
	}
	m.Start()
	waitConnected(t, client)

	d := ingesttest.Connect(t, m.URL, nil, "acme", "rtr-1")
	d.Send(t, 20)
	d.WaitAck(t, 0, ackTimeout)
	m.Stop()
	m.Start()
	waitConnected(t, client)
	d.Send(t, 20) // some may be lost while the device reconnects
	d.WaitAck(t, time.Second, ackTimeout)
	checkDevice(t, st, d)
}

func waitConnected(t *testing.T, c *ingest.Client) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for c.Check(t.Context()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("gateway not connected within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

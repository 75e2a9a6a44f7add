package ingesttest

import (
	"crypto/tls"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"patchbay.dev/firmware/pahostore"
	"patchbay.dev/firmware/telemetry"
)

const wait = 10 * time.Second

// Device is a fake device.
type Device struct {
	Tenant, ID string

	c paho.Client

	mu     sync.Mutex
	seq    uint64            // last sequence number used
	outbox map[uint64][]byte // events not yet acknowledged, by sequence
	ack    uint64            // highest ack received
	news   chan struct{}
}

// Connect connects a device to brokerURL: with tlsConfig (its certificate),
// or without, as "tenant/id" for the insecure development mode. It
// publishes "online" on its status topic (with "offline" as last will),
// subscribes to its ack topic, and reconnects if the connection drops. It
// disconnects when the test ends.
func Connect(t testing.TB, brokerURL string, tlsConfig *tls.Config, tenant, id string) *Device {
	t.Helper()
	d := &Device{Tenant: tenant, ID: id, outbox: map[uint64][]byte{}, news: make(chan struct{}, 1)}
	status := telemetry.Topic(tenant, id, telemetry.KindStatus)
	opts := paho.NewClientOptions().
		AddBroker(brokerURL).
		SetClientID(tenant+"/"+id).
		SetUsername(tenant+"/"+id).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(false).
		SetMaxReconnectInterval(time.Second).
		// Events published just after a reconnect race paho's resume of
		// those in flight before it (eclipse-paho/paho.mqtt.golang#703).
		SetStore(pahostore.New()).
		SetConnectTimeout(wait).
		SetWill(status, telemetry.Offline, 1, true).
		SetOnConnectHandler(func(c paho.Client) {
			c.Subscribe(telemetry.Topic(tenant, id, telemetry.KindAck), 1, d.onAck)
			c.Publish(status, 1, true, telemetry.Online)
		})
	if tlsConfig != nil {
		opts.SetTLSConfig(tlsConfig)
	}
	d.c = paho.NewClient(opts)
	if tok := d.c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("device %s/%s: connect to %s: %v", tenant, id, brokerURL, tok.Error())
	}
	t.Cleanup(func() { d.c.Disconnect(100) })
	return d
}

func (d *Device) onAck(_ paho.Client, m paho.Message) {
	var a telemetry.Ack
	if err := telemetry.Unmarshal(m.Payload(), &a); err != nil {
		return // a real agent logs it
	}
	d.mu.Lock()
	if a.Seq > d.ack {
		d.ack = a.Seq
		for seq := range d.outbox {
			if seq <= a.Seq {
				delete(d.outbox, seq)
			}
		}
	}
	d.mu.Unlock()
	select {
	case d.news <- struct{}{}:
	default:
	}
}

// Disconnect closes the device's connection cleanly (no last will). Its
// outbox stays, as on a device that goes offline.
func (d *Device) Disconnect() { d.c.Disconnect(100) }

// Ack returns the highest ack the device received.
func (d *Device) Ack() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ack
}

// Seq returns the last sequence number the device used.
func (d *Device) Seq() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seq
}

// Send makes n events, keeps them in the outbox and publishes them with
// QoS 1, without waiting for the broker: a lost connection loses them
// until Resend.
func (d *Device) Send(t testing.TB, n int) {
	t.Helper()
	for range n {
		d.mu.Lock()
		d.seq++
		ev := &telemetry.Event{Seq: d.seq, Time: time.Now().UTC(), Type: telemetry.EventInfo, Message: fmt.Sprintf("event %d of %s/%s", d.seq, d.Tenant, d.ID)}
		b, err := telemetry.Marshal(ev)
		if err != nil {
			d.mu.Unlock()
			t.Fatal(err)
		}
		d.outbox[d.seq] = b
		d.mu.Unlock()
		d.c.Publish(telemetry.Topic(d.Tenant, d.ID, telemetry.KindEvents), 1, false, b)
	}
}

// Resend publishes again every event the ack does not cover, oldest
// first, and returns how many.
func (d *Device) Resend() int {
	d.mu.Lock()
	seqs := slices.Sorted(func(yield func(uint64) bool) {
		for s := range d.outbox {
			if !yield(s) {
				return
			}
		}
	})
	payloads := make([][]byte, len(seqs))
	for i, s := range seqs {
		payloads[i] = d.outbox[s]
	}
	d.mu.Unlock()
	for _, b := range payloads {
		d.c.Publish(telemetry.Topic(d.Tenant, d.ID, telemetry.KindEvents), 1, false, b)
	}
	return len(payloads)
}

// PublishState publishes st (retained, QoS 1) and waits for the broker.
func (d *Device) PublishState(t testing.TB, st *telemetry.State) {
	t.Helper()
	b, err := telemetry.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	tok := d.c.Publish(telemetry.Topic(d.Tenant, d.ID, telemetry.KindState), 1, true, b)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("device %s/%s: publish state: %v", d.Tenant, d.ID, tok.Error())
	}
}

// WaitAck waits until the ack covers every event sent, re-sending the
// events it does not cover every resendEvery (0: never), as the agent does
// after a reconnect or a silence. It fails the test after timeout.
func (d *Device) WaitAck(t testing.TB, resendEvery, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	var tick <-chan time.Time
	if resendEvery > 0 {
		ticker := time.NewTicker(resendEvery)
		defer ticker.Stop()
		tick = ticker.C
	}
	for d.Ack() < d.Seq() {
		select {
		case <-d.news:
		case <-tick:
			d.Resend()
		case <-deadline:
			t.Fatalf("device %s/%s: ack %d after %v, want %d", d.Tenant, d.ID, d.Ack(), timeout, d.Seq())
		}
	}
}

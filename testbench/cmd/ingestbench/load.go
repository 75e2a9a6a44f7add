package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/ingest"
	"patchbay.dev/testbench/fleet"
)

const (
	// opTimeout bounds one round trip to the broker.
	opTimeout = 30 * time.Second
	// subscribeChunk is how many ack filters one SUBSCRIBE carries.
	subscribeChunk = 256
	// devicePrefix starts every simulated device id.
	devicePrefix = "dev-"
)

// loadConfig says what load to generate.
type loadConfig struct {
	brokerURL   string
	tenant      string
	devices     int
	events      int // per device
	connections int // the devices share these round robin
	inFlight    int // publishes per connection before their PUBACKs are awaited
	payload     int // bytes padding each event's message
	burst       bool
	resendAfter time.Duration
}

// load is the load generator: many devices' events over a few shared
// connections (one paho client per device is too heavy for one process
// next to the gateway), each device numbering its own events from 1 on its
// own topics, and each connection subscribed to the ack topics of its
// devices. A device whose ack stops short is sent its unacknowledged
// events again, as an agent would.
type load struct {
	cfg   loadConfig
	conns []*loadConn
	start time.Time // of the first publish

	acked     []atomic.Uint64 // by device number
	moved     []atomic.Bool   // the device's ack moved since the last resend check
	done      atomic.Int64    // devices whose every event is acknowledged
	allAcked  chan struct{}   // closed when done reaches cfg.devices
	published atomic.Int64
	resent    atomic.Int64
	badAcks   atomic.Int64
}

type loadConn struct {
	client  mqtt.Client
	devices []int // device numbers
}

// loadResult is what the load generator saw.
type loadResult struct {
	Published      int64   `json:"published"`
	Resent         int64   `json:"resent"`
	PublishSeconds float64 `json:"publish_seconds"` // first publish to the last PUBACK
	AckSeconds     float64 `json:"ack_seconds"`     // first publish to the last device's final ack
}

func deviceID(n int) string { return fleet.DeviceID(devicePrefix, n) }

// deviceNumber is the inverse of deviceID.
func deviceNumber(id string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, devicePrefix))
	if err != nil || n < 1 || !strings.HasPrefix(id, devicePrefix) {
		return 0, false
	}
	return n - 1, true
}

// connectLoad connects the load generator's connections and subscribes
// them to their devices' acks.
func connectLoad(ctx context.Context, cfg loadConfig) (*load, error) {
	l := &load{
		cfg:      cfg,
		acked:    make([]atomic.Uint64, cfg.devices),
		moved:    make([]atomic.Bool, cfg.devices),
		allAcked: make(chan struct{}),
	}
	for c := range cfg.connections {
		lc := &loadConn{}
		for n := c; n < cfg.devices; n += cfg.connections {
			lc.devices = append(lc.devices, n)
		}
		o := mqtt.NewClientOptions().
			AddBroker(cfg.brokerURL).
			SetClientID(fmt.Sprintf("ingestbench-load-%d", c)).
			SetCleanSession(true).
			// onAck never blocks: paho may call it in order, on its own
			// goroutine, instead of starting one per ack.
			SetOrderMatters(true).
			// Buffered reads and coalesced writes, as the gateway's: the
			// load generator shares the machine with what it measures.
			SetCustomOpenConnectionFn(ingest.OpenConnection).
			SetKeepAlive(60 * time.Second).
			SetConnectTimeout(opTimeout).
			SetWriteTimeout(opTimeout).
			SetAutoReconnect(false).
			// Every ack goes to the default handler: a route per ack
			// filter would have paho match each message against all the
			// connection's routes, the load generator's largest cost.
			SetDefaultPublishHandler(l.onAck)
		lc.client = mqtt.NewClient(o)
		l.conns = append(l.conns, lc)
		if err := wait(ctx, lc.client.Connect()); err != nil {
			l.disconnect()
			return nil, fmt.Errorf("load connection %d: connect %s: %w", c, cfg.brokerURL, err)
		}
		for i := 0; i < len(lc.devices); i += subscribeChunk {
			filters := map[string]byte{}
			for _, n := range lc.devices[i:min(i+subscribeChunk, len(lc.devices))] {
				filters[telemetry.Topic(cfg.tenant, deviceID(n), telemetry.KindAck)] = 1
			}
			if err := wait(ctx, lc.client.SubscribeMultiple(filters, nil)); err != nil {
				l.disconnect()
				return nil, fmt.Errorf("load connection %d: subscribe to acks: %w", c, err)
			}
		}
	}
	return l, nil
}

func (l *load) disconnect() {
	var wg sync.WaitGroup
	for _, lc := range l.conns {
		wg.Go(func() { lc.client.Disconnect(250) })
	}
	wg.Wait()
}

// onAck records a device's ack; paho calls it on its own goroutines.
func (l *load) onAck(_ mqtt.Client, m mqtt.Message) {
	t, err := telemetry.ParseTopic(m.Topic())
	n, ok := deviceNumber(t.Device)
	var a telemetry.Ack
	if err == nil {
		err = telemetry.Unmarshal(m.Payload(), &a)
	}
	if err != nil || !ok || t.Kind != telemetry.KindAck || n >= l.cfg.devices {
		l.badAcks.Add(1)
		return
	}
	seq := min(a.Seq, uint64(l.cfg.events))
	for {
		old := l.acked[n].Load()
		if seq <= old {
			return
		}
		if l.acked[n].CompareAndSwap(old, seq) {
			break
		}
	}
	l.moved[n].Store(true)
	if seq == uint64(l.cfg.events) && l.done.Add(1) == int64(l.cfg.devices) {
		close(l.allAcked)
	}
}

// run publishes every event and returns once the gateway has
// acknowledged all of them, or ctx ends.
func (l *load) run(ctx context.Context) (loadResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	base := time.Now().UTC()
	l.start = time.Now()
	var wg sync.WaitGroup
	for _, lc := range l.conns {
		wg.Go(func() {
			if err := l.publishAll(ctx, lc, base); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	var r loadResult
	r.PublishSeconds = time.Since(l.start).Seconds()
	if err := context.Cause(ctx); err != nil {
		return r, err
	}
	tick := time.NewTicker(l.cfg.resendAfter)
	defer tick.Stop()
	for {
		select {
		case <-l.allAcked:
			r.AckSeconds = time.Since(l.start).Seconds()
			r.Published, r.Resent = l.published.Load(), l.resent.Load()
			return r, nil
		case <-ctx.Done():
			return r, fmt.Errorf("%d of %d devices acknowledged: %w", l.done.Load(), l.cfg.devices, context.Cause(ctx))
		case <-tick.C:
			if err := l.resendStalled(ctx, base); err != nil {
				return r, err
			}
		}
	}
}

// publishAll publishes the events of a connection's devices: round by
// round (event 1 of every device, then event 2…), or with burst device by
// device.
func (l *load) publishAll(ctx context.Context, lc *loadConn, base time.Time) error {
	p := l.publisher(ctx, lc)
	if l.cfg.burst {
		for _, n := range lc.devices {
			for seq := 1; seq <= l.cfg.events; seq++ {
				if err := p.publish(n, uint64(seq), base); err != nil {
					return err
				}
			}
		}
	} else {
		for seq := 1; seq <= l.cfg.events; seq++ {
			for _, n := range lc.devices {
				if err := p.publish(n, uint64(seq), base); err != nil {
					return err
				}
			}
		}
	}
	return p.flush()
}

// resendStalled sends again the unacknowledged events of every device
// whose ack did not move since the last call.
func (l *load) resendStalled(ctx context.Context, base time.Time) error {
	for _, lc := range l.conns {
		p := l.publisher(ctx, lc)
		for _, n := range lc.devices {
			acked := l.acked[n].Load()
			if l.moved[n].Swap(false) || acked == uint64(l.cfg.events) {
				continue
			}
			for seq := acked + 1; seq <= uint64(l.cfg.events); seq++ {
				l.resent.Add(1)
				if err := p.publish(n, seq, base); err != nil {
					return err
				}
			}
		}
		if err := p.flush(); err != nil {
			return err
		}
	}
	return nil
}

// publisher publishes on one connection, inFlight at a time.
type publisher struct {
	ctx      context.Context
	l        *load
	lc       *loadConn
	padding  string
	inFlight []mqtt.Token
}

func (l *load) publisher(ctx context.Context, lc *loadConn) *publisher {
	return &publisher{ctx: ctx, l: l, lc: lc, padding: strings.Repeat("x", l.cfg.payload), inFlight: make([]mqtt.Token, 0, l.cfg.inFlight)}
}

func (p *publisher) publish(n int, seq uint64, base time.Time) error {
	payload, err := eventPayload(seq, base, p.padding)
	if err != nil {
		return err
	}
	p.l.published.Add(1)
	p.inFlight = append(p.inFlight, p.lc.client.Publish(telemetry.Topic(p.l.cfg.tenant, deviceID(n), telemetry.KindEvents), 1, false, payload))
	if len(p.inFlight) == cap(p.inFlight) {
		return p.flush()
	}
	return nil
}

func (p *publisher) flush() error {
	for _, tok := range p.inFlight {
		if err := wait(p.ctx, tok); err != nil {
			return fmt.Errorf("publish event: %w", err)
		}
	}
	p.inFlight = p.inFlight[:0]
	return nil
}

// eventPayload is the CBOR of a device's event seq: what fleet's devices
// send.
func eventPayload(seq uint64, base time.Time, padding string) ([]byte, error) {
	ev := &telemetry.Event{Seq: seq, Time: base.Add(time.Duration(seq) * time.Millisecond), Type: telemetry.EventInfo,
		Message: "simulated event " + padding}
	return telemetry.Marshal(ev)
}

// wait waits for a paho token until ctx ends or opTimeout passes.
func wait(ctx context.Context, tok mqtt.Token) error {
	t := time.NewTimer(opTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return errors.New("no answer from the broker within " + opTimeout.String())
	}
}

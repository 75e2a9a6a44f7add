package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"patchbay.dev/firmware/telemetry"
)

// Config says what fleet to simulate.
type Config struct {
	BrokerURL string // tcp://127.0.0.1:1883
	TLS       *tls.Config
	Tenant    string
	// Devices is how many devices; their ids are Prefix + a number.
	Devices int
	Prefix  string
	// Site and Boards are given round robin; Versions likewise.
	Sites    []string
	Boards   []string
	Versions []string
	// Events each device sends, Interval apart (0: as fast as acked).
	Events   int
	Interval time.Duration
	// Username gives a device's CONNECT username (nil: none), for brokers
	// that take identity from it in development mode.
	Username func(tenant, device string) string
	// ResendAfter is how long an unacknowledged event waits before it is
	// sent again.
	ResendAfter time.Duration
	// Payload pads each event's message to about this many bytes.
	Payload int
	// Connect spreads the connections over this long (0: at once).
	Connect time.Duration
}

// Stats counts what the fleet did.
type Stats struct {
	Devices   int64
	Connected int64
	Published int64 // event publishes, re-sends included
	Resent    int64
	Acked     int64 // events the gateway's acks cover
}

// Counters are the live counts of a running fleet; safe for concurrent use.
type Counters struct {
	connected, published, resent, acked atomic.Int64
}

// Snapshot reads the counters.
func (c *Counters) Snapshot() Stats {
	return Stats{Connected: c.connected.Load(), Published: c.published.Load(), Resent: c.resent.Load(), Acked: c.acked.Load()}
}

// Run simulates the fleet until every device's events are acknowledged or
// ctx ends. It returns an error when a device could not connect or when ctx
// ended before every event was acknowledged.
func Run(ctx context.Context, cfg Config, counters *Counters, log *slog.Logger) (Stats, error) {
	if cfg.Devices <= 0 || cfg.Tenant == "" || cfg.BrokerURL == "" {
		return Stats{}, errors.New("fleet: BrokerURL, Tenant and a positive Devices are required")
	}
	if cfg.ResendAfter <= 0 {
		cfg.ResendAfter = 5 * time.Second
	}
	if counters == nil {
		counters = &Counters{}
	}
	var wg sync.WaitGroup
	errs := make([]error, cfg.Devices)
	for i := range cfg.Devices {
		d := &device{cfg: cfg, n: i, id: fmt.Sprintf("%s%05d", cfg.Prefix, i+1), counters: counters, log: log}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.Connect > 0 {
				delay := cfg.Connect * time.Duration(i) / time.Duration(cfg.Devices)
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					errs[i] = ctx.Err()
					return
				}
			}
			errs[i] = d.run(ctx)
		}()
	}
	wg.Wait()
	st := counters.Snapshot()
	st.Devices = int64(cfg.Devices)
	return st, errors.Join(errs...)
}

type device struct {
	cfg      Config
	n        int
	id       string
	counters *Counters
	log      *slog.Logger
	acked    atomic.Uint64
	ackCh    chan struct{}
}

func pick(list []string, n int, def string) string {
	if len(list) == 0 {
		return def
	}
	return list[n%len(list)]
}

func (d *device) run(ctx context.Context) error {
	cfg := d.cfg
	d.ackCh = make(chan struct{}, 1)
	status := telemetry.Topic(cfg.Tenant, d.id, telemetry.KindStatus)
	ackTopic := telemetry.Topic(cfg.Tenant, d.id, telemetry.KindAck)
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.BrokerURL).
		SetClientID("sim-"+cfg.Tenant+"-"+d.id).
		SetCleanSession(false).
		SetOrderMatters(false).
		SetKeepAlive(30*time.Second).
		SetConnectRetry(true).
		SetConnectRetryInterval(500*time.Millisecond).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(2*time.Second).
		SetWill(status, telemetry.Offline, 1, true).
		SetDefaultPublishHandler(func(mqtt.Client, mqtt.Message) {})
	if cfg.TLS != nil {
		opts.SetTLSConfig(cfg.TLS)
	}
	if cfg.Username != nil {
		opts.SetUsername(cfg.Username(cfg.Tenant, d.id))
	}
	connected := false
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		if !connected {
			connected = true
			d.counters.connected.Add(1)
		}
		c.Subscribe(ackTopic, 1, d.onAck)
	})
	client := mqtt.NewClient(opts)
	tok := client.Connect()
	if err := wait(ctx, tok); err != nil {
		return fmt.Errorf("device %s: connect %s: %w", d.id, cfg.BrokerURL, err)
	}
	defer client.Disconnect(250)

	if err := wait(ctx, client.Publish(status, 1, true, telemetry.Online)); err != nil {
		return fmt.Errorf("device %s: publish status: %w", d.id, err)
	}
	now := time.Now().UTC()
	st := &telemetry.State{
		DeviceID: d.id, Tenant: cfg.Tenant, Site: pick(cfg.Sites, d.n, "site-1"),
		Board: pick(cfg.Boards, d.n, "generic-entity-mib"), AgentVersion: "sim", Time: now,
		Seq: uint64(cfg.Events),
		Inventory: []telemetry.Component{{ID: "self", Kind: "firmware", Board: pick(cfg.Boards, d.n, "generic-entity-mib"),
			Version: pick(cfg.Versions, d.n, "1.0.0")}},
		Update: telemetry.Update{Phase: "idle"},
	}
	payload, err := telemetry.Marshal(st)
	if err != nil {
		return err
	}
	if err := wait(ctx, client.Publish(telemetry.Topic(cfg.Tenant, d.id, telemetry.KindState), 1, true, payload)); err != nil {
		return fmt.Errorf("device %s: publish state: %w", d.id, err)
	}

	events := telemetry.Topic(cfg.Tenant, d.id, telemetry.KindEvents)
	padding := make([]byte, cfg.Payload)
	for i := range padding {
		padding[i] = 'x'
	}
	send := func(seq uint64) error {
		ev := &telemetry.Event{Seq: seq, Time: now.Add(time.Duration(seq) * time.Millisecond), Type: telemetry.EventInfo,
			Message: "simulated event " + string(padding)}
		b, err := telemetry.Marshal(ev)
		if err != nil {
			return err
		}
		d.counters.published.Add(1)
		return wait(ctx, client.Publish(events, 1, false, b))
	}
	total := uint64(cfg.Events)
	for seq := uint64(1); seq <= total; seq++ {
		if err := send(seq); err != nil {
			return fmt.Errorf("device %s: publish event %d: %w", d.id, seq, err)
		}
		if cfg.Interval > 0 {
			select {
			case <-time.After(cfg.Interval):
			case <-ctx.Done():
				return fmt.Errorf("device %s: %w", d.id, ctx.Err())
			}
		}
	}
	// Re-send what the gateway has not acknowledged until it has all.
	for d.acked.Load() < total {
		select {
		case <-d.ackCh:
			continue
		case <-time.After(cfg.ResendAfter):
		case <-ctx.Done():
			return fmt.Errorf("device %s: %d of %d events acknowledged: %w", d.id, d.acked.Load(), total, ctx.Err())
		}
		for seq := d.acked.Load() + 1; seq <= total; seq++ {
			d.counters.resent.Add(1)
			if err := send(seq); err != nil {
				return fmt.Errorf("device %s: re-send event %d: %w", d.id, seq, err)
			}
		}
	}
	return nil
}

func (d *device) onAck(_ mqtt.Client, m mqtt.Message) {
	var ack telemetry.Ack
	if err := telemetry.Unmarshal(m.Payload(), &ack); err != nil {
		d.log.Warn("bad ack", "device_id", d.id, "err", err)
		return
	}
	for {
		old := d.acked.Load()
		if ack.Seq <= old {
			return
		}
		if d.acked.CompareAndSwap(old, ack.Seq) {
			d.counters.acked.Add(int64(ack.Seq - old))
			break
		}
	}
	select {
	case d.ackCh <- struct{}{}:
	default:
	}
}

// wait waits for a paho token within ctx.
func wait(ctx context.Context, tok mqtt.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

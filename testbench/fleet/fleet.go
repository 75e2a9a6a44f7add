package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"patchbay.dev/firmware/pahostore"
	"patchbay.dev/firmware/telemetry"
)

// Defaults of Config.
const (
	DefaultResendAfter = 5 * time.Second
	DefaultInFlight    = 16
)

const (
	// opTimeout bounds one round trip to the broker: a connection
	// attempt, a publish, a subscription.
	opTimeout = 30 * time.Second
	// connectRetry spaces a device's connection attempts until its first
	// connection; after it, paho reconnects with a back-off of at most
	// maxReconnect.
	connectRetry = 500 * time.Millisecond
	maxReconnect = 2 * time.Second
	// offlineTimeout bounds the "offline" publish on the way out.
	offlineTimeout = 2 * time.Second
	// disconnectQuiesce is how long paho may finish its work on
	// Disconnect, in milliseconds.
	disconnectQuiesce = 250
	// maxResendAfter caps a device's wait for its ack to move, as
	// agent/report.MaxResendAfter does an agent's.
	maxResendAfter = 5 * time.Minute
)

// Config says what fleet to simulate.
type Config struct {
	BrokerURL string // tcp://127.0.0.1:1883
	TLS       *tls.Config
	Tenant    string
	// Devices is how many devices; their ids are Prefix and a 5-digit
	// number from 1.
	Devices int
	Prefix  string
	// Sites, Boards and Versions are given round robin.
	Sites    []string
	Boards   []string
	Versions []string
	// Events each device sends, Interval apart (0: as fast as InFlight
	// allows).
	Events   int
	Interval time.Duration
	// InFlight is how many events a device publishes before it waits for
	// their PUBACKs (0: DefaultInFlight).
	InFlight int
	// Username gives a device's CONNECT username (nil: none); DevUsername
	// is the one the embedded broker's development mode wants.
	Username func(tenant, device string) string
	// ResendAfter is how long a device waits for the gateway's ack to
	// move before it sends every unacknowledged event again (0:
	// DefaultResendAfter); twice as long after each re-send that brought
	// no ack, up to five minutes, as agents do.
	ResendAfter time.Duration
	// Payload pads each event's message with this many bytes.
	Payload int
	// Connect spreads the first connections over this long (0: at once).
	Connect time.Duration
	// Stay keeps the devices connected once their events are
	// acknowledged, until ctx ends; Run then returns nil.
	Stay bool
}

// DevUsername is the CONNECT username "{tenant}/{device}" from which the
// embedded broker's InsecureDevAuth takes a device's identity.
func DevUsername(tenant, device string) string { return tenant + "/" + device }

// DeviceID returns the id of the nth device (from 0) of a fleet.
func DeviceID(prefix string, n int) string { return fmt.Sprintf("%s%05d", prefix, n+1) }

func (c Config) validate() error {
	var errs []error
	if c.BrokerURL == "" {
		errs = append(errs, errors.New("a broker URL is required (tcp://127.0.0.1:1883)"))
	}
	if !telemetry.ValidID(c.Tenant) {
		errs = append(errs, fmt.Errorf("tenant %q: want 1–128 letters, digits, '.', '_' or '-'", c.Tenant))
	}
	if c.Devices <= 0 {
		errs = append(errs, fmt.Errorf("devices %d: want at least 1", c.Devices))
	} else if id := DeviceID(c.Prefix, c.Devices-1); !telemetry.ValidID(id) {
		errs = append(errs, fmt.Errorf("prefix %q: device ids like %q are not valid ids", c.Prefix, id))
	}
	if c.Events < 0 || c.Payload < 0 || c.InFlight < 0 || c.Interval < 0 || c.Connect < 0 || c.ResendAfter < 0 {
		errs = append(errs, errors.New("events, payload, in-flight, interval, connect and resend-after must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	return nil
}

// Stats counts what the fleet did.
type Stats struct {
	Devices   int64 `json:"devices"`
	Connected int64 `json:"connected"` // devices that connected at least once
	Online    int64 `json:"online"`    // devices connected now
	Published int64 `json:"published"` // event publishes, re-sends included
	Resent    int64 `json:"resent"`
	Acked     int64 `json:"acked"` // events the gateway's acks cover
	Done      int64 `json:"done"`  // devices whose every event is acknowledged
}

// Counters are the live counts of a running fleet; safe for concurrent use.
type Counters struct {
	connected, online, published, resent, acked, done atomic.Int64
}

// Snapshot reads the counters.
func (c *Counters) Snapshot() Stats {
	return Stats{
		Connected: c.connected.Load(), Online: c.online.Load(), Published: c.published.Load(),
		Resent: c.resent.Load(), Acked: c.acked.Load(), Done: c.done.Load(),
	}
}

// Run simulates the fleet until every device's events are acknowledged
// (or, with Stay, until ctx ends) and returns once every device has
// disconnected. It returns an error when ctx ended before every event was
// acknowledged, naming the devices that were short. counters, when not
// nil, shows progress while Run runs.
func Run(ctx context.Context, cfg Config, counters *Counters, log *slog.Logger) (Stats, error) {
	if err := cfg.validate(); err != nil {
		return Stats{}, err
	}
	if cfg.ResendAfter == 0 {
		cfg.ResendAfter = DefaultResendAfter
	}
	if cfg.InFlight == 0 {
		cfg.InFlight = DefaultInFlight
	}
	if counters == nil {
		counters = &Counters{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	padding := strings.Repeat("x", cfg.Payload)
	var wg sync.WaitGroup
	errs := make([]error, cfg.Devices)
	for i := range cfg.Devices {
		d := &device{
			cfg: cfg, n: i, id: DeviceID(cfg.Prefix, i), padding: padding,
			counters: counters, log: log, ackMoved: make(chan struct{}, 1),
		}
		wg.Go(func() {
			if cfg.Connect > 0 {
				select {
				case <-time.After(cfg.Connect * time.Duration(i) / time.Duration(cfg.Devices)):
				case <-ctx.Done():
					errs[i] = fmt.Errorf("device %s: not started: %w", d.id, context.Cause(ctx))
					return
				}
			}
			errs[i] = d.run(ctx)
		})
	}
	wg.Wait()
	st := counters.Snapshot()
	st.Devices = int64(cfg.Devices)
	return st, joinShort(errs)
}

// joinShort joins the devices' errors, quoting the first few only: a
// fleet of 10,000 that ran out of time would otherwise say so 10,000 times.
func joinShort(errs []error) error {
	const quote = 5
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) <= quote {
		return errors.Join(failed...)
	}
	return errors.Join(append(failed[:quote:quote], fmt.Errorf("and %d more devices", len(failed)-quote))...)
}

// device is one simulated device. Its run goroutine owns its connection;
// paho's callbacks touch only the atomic fields and ackMoved.
type device struct {
	cfg      Config
	n        int
	id       string
	padding  string
	counters *Counters
	log      *slog.Logger

	acked     atomic.Uint64 // highest sequence number the gateway acknowledged
	connected atomic.Bool   // ever
	online    atomic.Bool   // now
	ackMoved  chan struct{} // capacity 1: the ack moved
}

func pick(list []string, n int, def string) string {
	if len(list) == 0 {
		return def
	}
	return list[n%len(list)]
}

func (d *device) topic(k telemetry.Kind) string { return telemetry.Topic(d.cfg.Tenant, d.id, k) }

func (d *device) run(ctx context.Context) error {
	cfg := d.cfg
	client := mqtt.NewClient(d.clientOptions())
	if err := d.connect(ctx, client); err != nil {
		return fmt.Errorf("device %s: connect %s: %w", d.id, cfg.BrokerURL, err)
	}
	defer d.disconnect(client)

	if err := wait(ctx, client.Publish(d.topic(telemetry.KindStatus), 1, true, telemetry.Online)); err != nil {
		return fmt.Errorf("device %s: publish status: %w", d.id, err)
	}
	now := time.Now().UTC()
	board := pick(cfg.Boards, d.n, "generic-entity-mib")
	st := &telemetry.State{
		DeviceID: d.id, Tenant: cfg.Tenant, Site: pick(cfg.Sites, d.n, "site-1"),
		Board: board, AgentVersion: "sim", Time: now, Seq: uint64(cfg.Events),
		Inventory: []telemetry.Component{{ID: "self", Kind: "firmware", Board: board, Version: pick(cfg.Versions, d.n, "1.0.0")}},
		Update:    telemetry.Update{Phase: "idle"},
	}
	payload, err := telemetry.Marshal(st)
	if err != nil {
		return fmt.Errorf("device %s: %w", d.id, err)
	}
	if err := wait(ctx, client.Publish(d.topic(telemetry.KindState), 1, true, payload)); err != nil {
		return fmt.Errorf("device %s: publish state: %w", d.id, err)
	}

	total := uint64(cfg.Events)
	if err := d.send(ctx, client, 1, total, now, cfg.Interval); err != nil {
		return err
	}
	// Re-send what the gateway has not acknowledged until it has all,
	// waiting twice as long after each re-send that brought no ack, as
	// agents do (agent/report).
	for wait := cfg.ResendAfter; d.acked.Load() < total; {
		select {
		case <-d.ackMoved:
			wait = cfg.ResendAfter
			continue
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("device %s: %d of %d events acknowledged: %w", d.id, d.acked.Load(), total, context.Cause(ctx))
		}
		from := d.acked.Load() + 1
		d.counters.resent.Add(int64(total - from + 1))
		d.log.Debug("events sent again: no ack for them", "device_id", d.id, "from_seq", from, "to_seq", total)
		if err := d.send(ctx, client, from, total, now, 0); err != nil {
			return err
		}
		wait = min(2*wait, max(cfg.ResendAfter, maxResendAfter))
	}
	d.counters.done.Add(1)
	if cfg.Stay {
		<-ctx.Done()
	}
	return nil
}

func (d *device) clientOptions() *mqtt.ClientOptions {
	cfg := d.cfg
	o := mqtt.NewClientOptions().
		AddBroker(cfg.BrokerURL).
		SetClientID("sim:"+cfg.Tenant+":"+d.id).
		SetCleanSession(false).
		SetOrderMatters(false).
		SetKeepAlive(30*time.Second).
		SetConnectTimeout(opTimeout).
		SetWriteTimeout(opTimeout).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(maxReconnect).
		SetStore(pahostore.New()). // events sent again after a reconnect race paho's resume otherwise
		SetWill(d.topic(telemetry.KindStatus), telemetry.Offline, 1, true).
		// With a persistent session the broker may send the ack before the
		// subscription of a new connection is back.
		SetDefaultPublishHandler(d.onMessage).
		SetOnConnectHandler(d.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			if d.online.CompareAndSwap(true, false) {
				d.counters.online.Add(-1)
			}
			d.log.Warn("connection lost; reconnecting", "device_id", d.id, "err", err)
		})
	if cfg.TLS != nil {
		o.SetTLSConfig(cfg.TLS)
	}
	if cfg.Username != nil {
		o.SetUsername(cfg.Username(cfg.Tenant, d.id))
	}
	return o
}

// connect tries to connect every connectRetry until it succeeds or ctx
// ends. It does not use paho's ConnectRetry, whose goroutine would outlive
// a device that gives up.
func (d *device) connect(ctx context.Context, client mqtt.Client) error {
	for {
		err := wait(ctx, client.Connect())
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			// The attempt may still be under way: Disconnect ends it.
			client.Disconnect(0)
			return err
		}
		d.log.Debug("connection failed; will retry", "device_id", d.id, "err", err)
		select {
		case <-time.After(connectRetry):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// disconnect says "offline", as the agent does on its way out (the will
// fires only on an unclean disconnect), and disconnects.
func (d *device) disconnect(client mqtt.Client) {
	if client.IsConnectionOpen() {
		ctx, cancel := context.WithTimeout(context.Background(), offlineTimeout)
		_ = wait(ctx, client.Publish(d.topic(telemetry.KindStatus), 1, true, telemetry.Offline))
		cancel()
	}
	client.Disconnect(disconnectQuiesce)
	if d.online.CompareAndSwap(true, false) {
		d.counters.online.Add(-1)
	}
}

// onConnect subscribes to the ack topic on every connection: paho does not
// resume subscriptions. It runs on a goroutine of paho's.
func (d *device) onConnect(c mqtt.Client) {
	if d.connected.CompareAndSwap(false, true) {
		d.counters.connected.Add(1)
	}
	if d.online.CompareAndSwap(false, true) {
		d.counters.online.Add(1)
	}
	tok := c.Subscribe(d.topic(telemetry.KindAck), 1, d.onMessage)
	if !tok.WaitTimeout(opTimeout) || tok.Error() != nil {
		// The device re-sends until acknowledged, which needs the ack; a
		// reconnect subscribes again.
		d.log.Error("ack subscription failed", "device_id", d.id, "err", tok.Error())
	}
}

func (d *device) onMessage(_ mqtt.Client, m mqtt.Message) {
	if m.Topic() != d.topic(telemetry.KindAck) {
		d.log.Debug("message on a foreign topic ignored", "device_id", d.id, "topic", m.Topic())
		return
	}
	var ack telemetry.Ack
	if err := telemetry.Unmarshal(m.Payload(), &ack); err != nil {
		d.log.Warn("ack unreadable", "device_id", d.id, "err", err)
		return
	}
	ack.Seq = min(ack.Seq, uint64(d.cfg.Events)) // an earlier run of the same ids may have sent more
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
	case d.ackMoved <- struct{}{}:
	default:
	}
}

// send publishes events from..to, InFlight at a time, pausing interval
// after each. It returns an error only when ctx ends: an event whose
// publish fails (the connection is down) is left to the re-sending.
func (d *device) send(ctx context.Context, client mqtt.Client, from, to uint64, start time.Time, interval time.Duration) error {
	events := d.topic(telemetry.KindEvents)
	inFlight := make([]mqtt.Token, 0, d.cfg.InFlight)
	failed := 0
	flush := func() error {
		for _, tok := range inFlight {
			err := wait(ctx, tok)
			switch {
			case ctx.Err() != nil:
				return fmt.Errorf("device %s: publish event: %w", d.id, context.Cause(ctx))
			case err != nil && failed == 0:
				d.log.Warn("event not sent; will send again", "device_id", d.id, "err", err)
				failed++
			case err != nil:
				failed++
			}
		}
		inFlight = inFlight[:0]
		return nil
	}
	for seq := from; seq <= to; seq++ {
		ev := &telemetry.Event{
			Seq: seq, Time: start.Add(time.Duration(seq) * time.Millisecond), Type: telemetry.EventInfo,
			Message: "simulated event " + d.padding,
		}
		payload, err := telemetry.Marshal(ev)
		if err != nil {
			return fmt.Errorf("device %s: %w", d.id, err)
		}
		d.counters.published.Add(1)
		inFlight = append(inFlight, client.Publish(events, 1, false, payload))
		if len(inFlight) == cap(inFlight) || interval > 0 {
			if err := flush(); err != nil {
				return err
			}
		}
		if interval > 0 {
			select {
			case <-time.After(interval):
			case <-ctx.Done():
				return fmt.Errorf("device %s: %w", d.id, context.Cause(ctx))
			}
		}
	}
	return flush()
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
		return fmt.Errorf("no answer from the broker within %v", opTimeout)
	}
}

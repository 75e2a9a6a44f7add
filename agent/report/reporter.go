package report

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/outbox"
	"patchbay.dev/firmware/pahostore"
	"patchbay.dev/firmware/telemetry"
)

// DefaultResendAfter is how long sent events wait for an ack before they
// are sent again, unless Options say otherwise.
const DefaultResendAfter = 30 * time.Second

const (
	// opTimeout bounds one round trip to the broker: a publish, a
	// subscribe, a connection attempt.
	opTimeout = 20 * time.Second
	// shutdownTimeout bounds the "offline" publish on the way out.
	shutdownTimeout = 5 * time.Second
	// disconnectQuiesce is how long paho may finish work on Disconnect, in
	// milliseconds.
	disconnectQuiesce = 250
	// maxReconnectInterval caps paho's back-off between reconnects.
	maxReconnectInterval = 2 * time.Minute
	// connectRetryInterval spaces the attempts of the first connection.
	connectRetryInterval = 15 * time.Second
	// incomingDepth is how many commands and desired documents wait for
	// the handler before paho's callbacks block.
	incomingDepth = 16
)

// Handler acts on what the gateway sends. Its methods are called one at a
// time, on a goroutine of Run, with Run's context. An error they return is
// reported to the gateway as an error event.
type Handler interface {
	// Command is called once per command id (a redelivered command with
	// the same id is not passed on again), with a known command name.
	Command(ctx context.Context, cmd telemetry.Command) error
	// Desired is called with each new revision of the desired document;
	// the same revision again (the retained document after a reconnect)
	// is passed on only if the last call for it failed.
	Desired(ctx context.Context, d telemetry.Desired) error
}

// Options configure a Reporter.
type Options struct {
	Tenant   string
	DeviceID string
	Broker   config.Broker
	Outbox   *outbox.Outbox // the caller opens and closes it
	Handler  Handler
	Logger   *slog.Logger
	// ResendAfter is how long events sent and not acknowledged wait before
	// they are sent again; zero means DefaultResendAfter. While sending
	// them again brings no ack, the wait doubles each time, up to
	// MaxResendAfter; an ack that moves starts it over.
	ResendAfter time.Duration
}

// Reporter is the agent's MQTT connection to the gateway.
type Reporter struct {
	tenant, device string
	broker         config.Broker
	tls            *tls.Config
	ob             *outbox.Outbox
	h              Handler
	log            *slog.Logger
	resendAfter    time.Duration
	topics         topics

	wake     chan struct{} // capacity 1: something to send
	incoming chan message  // commands and desired documents for the handler

	// cbMu is held shared by paho's callbacks while they run and
	// exclusively by Run when it stops them.
	cbMu      sync.RWMutex
	cbStopped bool

	mu        sync.Mutex
	running   bool
	client    mqtt.Client      // while Run runs
	connected bool             // announced and subscribed on the current connection
	epoch     uint64           // connections announced so far
	state     *telemetry.State // the last PublishState
	lastAck   time.Time        // when the outbox's ack last moved
	ackMoved  chan struct{}    // closed and replaced when the ack moves
}

type topics struct {
	status, state, events, cmd, desired, ack string
}

// message is a command or desired document on its way to the handler.
type message struct {
	topic    string
	payload  []byte
	retained bool
}

// ClientID returns the MQTT client id of a device: stable across restarts,
// so the broker keeps the persistent session, and unique per tenant and
// device (':' appears in neither).
func ClientID(tenant, device string) string { return "pb:" + tenant + ":" + device }

// New checks the options and loads the TLS files. It does not connect; Run
// does.
func New(opts Options) (*Reporter, error) {
	var errs []error
	if !telemetry.ValidID(opts.Tenant) || !telemetry.ValidID(opts.DeviceID) {
		errs = append(errs, fmt.Errorf("tenant %q and device %q must be ids of letters, digits, '.', '_' or '-'", opts.Tenant, opts.DeviceID))
	}
	if opts.Broker.URL == "" {
		errs = append(errs, errors.New("broker.url is required (e.g. ssl://gateway.example.net:8883)"))
	}
	if opts.Outbox == nil || opts.Handler == nil {
		errs = append(errs, errors.New("an outbox and a handler are required"))
	}
	if opts.Broker.KeepAlive < config.Duration(time.Second) {
		errs = append(errs, fmt.Errorf("broker.keepalive %v must be at least 1s", opts.Broker.KeepAlive.Std()))
	}
	tlsConf, err := tlsConfig(opts.Broker)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("reporter: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ResendAfter <= 0 {
		opts.ResendAfter = DefaultResendAfter
	}
	topic := func(k telemetry.Kind) string { return telemetry.Topic(opts.Tenant, opts.DeviceID, k) }
	return &Reporter{
		tenant:      opts.Tenant,
		device:      opts.DeviceID,
		broker:      opts.Broker,
		tls:         tlsConf,
		ob:          opts.Outbox,
		h:           opts.Handler,
		log:         opts.Logger,
		resendAfter: opts.ResendAfter,
		topics: topics{
			status:  topic(telemetry.KindStatus),
			state:   topic(telemetry.KindState),
			events:  topic(telemetry.KindEvents),
			cmd:     topic(telemetry.KindCmd),
			desired: topic(telemetry.KindDesired),
			ack:     topic(telemetry.KindAck),
		},
		wake:     make(chan struct{}, 1),
		incoming: make(chan message, incomingDepth),
	}, nil
}

// Run connects to the broker, reconnecting whenever the connection is
// lost, and sends events and receives commands until ctx ends. Then it
// publishes "offline", disconnects and returns nil, once every goroutine
// it started has ended. One Run at a time.
func (r *Reporter) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("reporter: Run is already running")
	}
	r.running = true
	r.mu.Unlock()
	r.cbMu.Lock()
	r.cbStopped = false
	r.cbMu.Unlock()

	client := mqtt.NewClient(r.clientOptions(ctx))
	r.mu.Lock()
	r.client = client
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running, r.client, r.connected = false, nil, false
		r.mu.Unlock()
	}()

	var wg sync.WaitGroup
	wg.Go(func() { r.sendLoop(ctx) })
	wg.Go(func() { r.dispatchLoop(ctx) })
	r.log.Info("broker connecting", "url", r.broker.URL, "client_id", ClientID(r.tenant, r.device))
	client.Connect() // with ConnectRetry the token completes only once connected: nothing to wait for
	<-ctx.Done()
	r.stop(ctx, client)
	wg.Wait()
	return nil
}

func (r *Reporter) clientOptions(ctx context.Context) *mqtt.ClientOptions {
	keepAlive := r.broker.KeepAlive.Std()
	o := mqtt.NewClientOptions().
		AddBroker(r.broker.URL).
		SetClientID(ClientID(r.tenant, r.device)).
		// The gateway's identity scheme: with client certificates the
		// broker takes it from the certificate; without, from this.
		SetUsername(r.tenant+"/"+r.device).
		SetCleanSession(false).
		SetOrderMatters(false).
		SetStore(pahostore.New()).
		SetKeepAlive(keepAlive).
		SetPingTimeout(min(keepAlive, 10*time.Second)).
		SetConnectTimeout(opTimeout).
		SetWriteTimeout(opTimeout).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(maxReconnectInterval).
		SetConnectRetry(true).
		SetConnectRetryInterval(connectRetryInterval).
		SetResumeSubs(false).
		SetBinaryWill(r.topics.status, []byte(telemetry.Offline), 1, true).
		SetDefaultPublishHandler(r.onMessage(ctx)).
		SetOnConnectHandler(func(c mqtt.Client) { r.onConnect(ctx, c) }).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { r.onLost(err) }).
		SetConnectionNotificationHandler(func(_ mqtt.Client, n mqtt.ConnectionNotification) {
			switch n := n.(type) {
			case mqtt.ConnectionNotificationFailed:
				r.log.Warn("broker connection failed; will retry", "url", r.broker.URL, "err", n.Reason)
			case mqtt.ConnectionNotificationBrokerFailed:
				r.log.Warn("broker connection failed; will retry", "url", n.Broker.Redacted(), "err", n.Reason)
			}
		})
	if r.tls != nil {
		o.SetTLSConfig(r.tls)
	}
	return o
}

// enterCallback is called first by every paho callback; when it returns
// true, leaveCallback must follow.
func (r *Reporter) enterCallback() bool {
	r.cbMu.RLock()
	if r.cbStopped {
		r.cbMu.RUnlock()
		return false
	}
	return true
}

func (r *Reporter) leaveCallback() { r.cbMu.RUnlock() }

// onConnect announces the device on a new connection: online, its
// subscriptions, its state. paho calls it on a goroutine of its own.
func (r *Reporter) onConnect(ctx context.Context, c mqtt.Client) {
	if !r.enterCallback() {
		return
	}
	defer r.leaveCallback()
	if ctx.Err() != nil {
		return // shutting down
	}
	var errs []error
	if err := wait(ctx, c.Publish(r.topics.status, 1, true, telemetry.Online), "publish online"); err != nil {
		errs = append(errs, err)
	}
	if err := r.subscribe(ctx, c); err != nil {
		errs = append(errs, err)
	}
	if err := r.publishState(ctx, c); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		// A lost connection brings another onConnect; a refusal will not
		// go away by itself.
		r.log.Error("broker announcement incomplete", "err", err)
	}
	r.mu.Lock()
	r.connected = true
	r.epoch++
	epoch := r.epoch
	r.mu.Unlock()
	r.kick()
	r.log.Info("broker connected", "url", r.broker.URL, "connection", epoch)
}

// subscribe subscribes to the device's cmd, desired and ack topics.
func (r *Reporter) subscribe(ctx context.Context, c mqtt.Client) error {
	filters := map[string]byte{r.topics.cmd: 1, r.topics.desired: 1, r.topics.ack: 1}
	tok := c.SubscribeMultiple(filters, r.onMessage(ctx))
	if err := wait(ctx, tok, "subscribe"); err != nil {
		return err
	}
	var errs []error
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		for topic, qos := range st.Result() {
			if qos == 0x80 {
				errs = append(errs, fmt.Errorf("subscribe %s: refused by the broker (check its ACL for this device)", topic))
			}
		}
	}
	return errors.Join(errs...)
}

func (r *Reporter) onLost(err error) {
	r.mu.Lock()
	r.connected = false
	r.mu.Unlock()
	r.log.Warn("broker connection lost; reconnecting", "err", err)
}

// stop ends the callbacks, says "offline" and disconnects.
func (r *Reporter) stop(ctx context.Context, client mqtt.Client) {
	// Callbacks that run give up (ctx is done); later ones return at once.
	r.cbMu.Lock()
	r.cbStopped = true
	r.cbMu.Unlock()
	r.mu.Lock()
	r.connected = false
	r.mu.Unlock()
	if client.IsConnectionOpen() {
		// The will only fires on an unclean disconnect.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		err := wait(sctx, client.Publish(r.topics.status, 1, true, telemetry.Offline), "publish offline")
		cancel()
		if err != nil {
			r.log.Warn("broker not told offline; the last will may not fire either", "err", err)
		}
	}
	client.Disconnect(disconnectQuiesce)
	r.log.Info("broker disconnected")
}

// wait waits for tok until ctx ends or opTimeout passes.
func wait(ctx context.Context, tok mqtt.Token, what string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
}

// kick wakes the sender.
func (r *Reporter) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Emit appends ev to the outbox, which numbers it, and wakes the sender.
// It returns the event's sequence number once the event is on disk; an
// error wrapping outbox.ErrFull says the outbox has no room.
func (r *Reporter) Emit(ctx context.Context, ev telemetry.Event) (uint64, error) {
	seq, err := r.ob.Append(ctx, ev)
	if err != nil {
		return 0, fmt.Errorf("emit %s event: %w", ev.Type, err)
	}
	r.kick()
	return seq, nil
}

// PublishState publishes st as the device's retained state, now if
// connected and on every connection after. Tenant and DeviceID are the
// reporter's; Seq, DroppedEvents and Time are filled in when published.
func (r *Reporter) PublishState(ctx context.Context, st telemetry.State) error {
	r.mu.Lock()
	r.state = &st
	client, connected := r.client, r.connected
	r.mu.Unlock()
	if client == nil || !connected || !client.IsConnectionOpen() {
		return nil
	}
	return r.publishState(ctx, client)
}

func (r *Reporter) publishState(ctx context.Context, c mqtt.Client) error {
	r.mu.Lock()
	if r.state == nil {
		r.mu.Unlock()
		return nil
	}
	st := *r.state
	r.mu.Unlock()
	ob := r.ob.Stats()
	st.Tenant, st.DeviceID = r.tenant, r.device
	st.Seq, st.DroppedEvents = ob.LastSeq, ob.Dropped
	st.Time = time.Now().UTC()
	payload, err := telemetry.Marshal(&st)
	if err != nil {
		return fmt.Errorf("publish state: %w", err)
	}
	return wait(ctx, c.Publish(r.topics.state, 1, true, payload), "publish state")
}

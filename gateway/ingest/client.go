package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"patchbay.dev/firmware/pahostore"
	"patchbay.dev/firmware/telemetry"
)

// DefaultGroup is the shared subscription group of Patchbay gateways.
const DefaultGroup = "patchbay"

// ErrNotConnected is returned by Publish and Check while a Client has no
// connection to its broker. It is transient.
var ErrNotConnected = errors.New("not connected to the MQTT broker")

// ClientConfig says how a Client reaches an external broker.
type ClientConfig struct {
	// URL is the broker: tcp://host:1883, or ssl://host:8883 with TLS.
	URL string
	// ClientID names the gateway's persistent session; each gateway
	// replica needs its own, stable across restarts.
	ClientID string
	// Group is the shared subscription group (empty: DefaultGroup).
	Group string
	// TLS, for ssl:// URLs: the CA of the broker's certificate and the
	// gateway's client certificate (pki.ClientTLS).
	TLS *tls.Config
	// Username and Password, for brokers that want them.
	Username string
	Password string
}

// LogValue leaves the password out of logs.
func (c ClientConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", c.URL), slog.String("client_id", c.ClientID), slog.String("group", c.Group),
		slog.Bool("tls", c.TLS != nil), slog.String("username", c.Username), slog.Bool("password", c.Password != ""),
	)
}

// Validate returns every problem with c.
func (c ClientConfig) Validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		errs = append(errs, errors.New("mqtt client: broker URL is empty"))
	case err != nil:
		errs = append(errs, fmt.Errorf("mqtt client: broker URL: %w", err))
	case u.Scheme != "tcp" && u.Scheme != "ssl" && u.Scheme != "mqtt" && u.Scheme != "mqtts":
		errs = append(errs, fmt.Errorf("mqtt client: broker URL %q: scheme must be tcp, ssl, mqtt or mqtts", c.URL))
	case u.Port() == "":
		errs = append(errs, fmt.Errorf("mqtt client: broker URL %q needs a port", c.URL))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("mqtt client: client ID is empty; each gateway needs its own, stable one"))
	}
	if c.Group != "" && !telemetry.ValidID(c.Group) {
		errs = append(errs, fmt.Errorf("mqtt client: shared subscription group %q: want letters, digits, '.', '_' or '-'", c.Group))
	}
	return errors.Join(errs...)
}

// Client connects a gateway to an external broker: it delivers every
// status, state and event message of its share to a Handler and publishes
// the gateway's messages. Publish, PublishAsync and Check are safe for
// concurrent use.
//
// The Client acknowledges a message only once the Handler has handled it
// (Message.Ack), so the broker's limit on messages in flight to one client
// bounds the Ingester's batches: mosquitto's max_inflight_messages is 20
// by default. Give the gateway's broker at least twice the Ingester's
// MaxBatch, better four times: max_inflight_messages 8192 for the default
// MaxBatch of 2048. See docs/gateway.md.
type Client struct {
	cfg ClientConfig
	log *slog.Logger

	mu   sync.Mutex
	conn paho.Client // nil outside Run
}

// Handler takes the messages a Client receives; an *Ingester is one.
// Deliver is called on a goroutine of paho's for each message.
type Handler interface {
	Deliver(ctx context.Context, m Message) error
}

// NewClient returns a Client for cfg; Run connects it.
func NewClient(cfg ClientConfig, logger *slog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	return &Client{cfg: cfg, log: logger}, nil
}

// Run connects, subscribes and delivers messages to h until ctx ends,
// reconnecting whenever the connection is lost, then disconnects. The
// session is persistent: the broker keeps the gateway's messages while it
// is away, and redelivers the ones h did not acknowledge (Message.Ack).
func (c *Client) Run(ctx context.Context, h Handler) error {
	opts := paho.NewClientOptions().
		AddBroker(brokerURL(c.cfg.URL)).
		SetClientID(c.cfg.ClientID).
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetOrderMatters(false).
		SetAutoAckDisabled(true).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(maxRetryInterval).
		SetCustomOpenConnectionFn(OpenConnection).
		SetStore(pahostore.New()).
		// Every message goes to one handler: a persistent session's queued
		// messages arrive before OnConnect subscribes again.
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			if err := h.Deliver(ctx, Message{Topic: m.Topic(), Payload: m.Payload(), Ack: m.Ack}); err != nil {
				c.log.Debug("message not delivered; the broker sends it again after a reconnect", "topic", m.Topic(), "error", err)
			}
		}).
		SetOnConnectHandler(func(pc paho.Client) { c.subscribe(ctx, pc) }).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			c.log.Warn("mqtt connection lost; will reconnect", "broker", c.cfg.URL, "error", err)
		})
	if c.cfg.TLS != nil {
		opts.SetTLSConfig(c.cfg.TLS)
	}
	if c.cfg.Username != "" {
		opts.SetUsername(c.cfg.Username).SetPassword(c.cfg.Password)
	}
	pc := paho.NewClient(opts)
	c.mu.Lock()
	c.conn = pc
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.conn = nil
		c.mu.Unlock()
	}()
	if !c.connect(ctx, pc) {
		return nil
	}
	<-ctx.Done()
	pc.Disconnect(250)
	return nil
}

// maxRetryInterval bounds the wait between connection attempts.
const maxRetryInterval = 30 * time.Second

// connect tries to connect until it succeeds (true) or ctx ends (false).
// Once connected, paho reconnects by itself.
func (c *Client) connect(ctx context.Context, pc paho.Client) bool {
	delay := time.Second
	for attempt := 1; ; attempt++ {
		tok := pc.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			pc.Disconnect(0)
			return false
		}
		err := tok.Error()
		if err == nil {
			return true
		}
		c.log.Warn("mqtt connect failed; will retry", "broker", c.cfg.URL, "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
		delay = min(2*delay, maxRetryInterval)
	}
}

// subscribe subscribes to the gateway's share of every device's status,
// state and events, with QoS 1.
func (c *Client) subscribe(ctx context.Context, pc paho.Client) {
	filters := map[string]byte{}
	for _, k := range Kinds {
		filters[telemetry.Filter(c.cfg.Group, k)] = 1
	}
	tok := pc.SubscribeMultiple(filters, nil)
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return
	}
	err := tok.Error()
	if err == nil {
		for f, q := range tok.(*paho.SubscribeToken).Result() {
			if q > 1 {
				err = errors.Join(err, fmt.Errorf("%s refused (code %#x)", f, q))
			}
		}
	}
	if err != nil {
		// The persistent session may still hold the subscriptions of an
		// earlier connection; a reconnect tries again.
		c.log.Error("subscribe failed; the session's earlier subscriptions stay", "broker", c.cfg.URL, "error", err)
		return
	}
	c.log.Info("mqtt connected", "broker", c.cfg.URL, "client_id", c.cfg.ClientID, "group", c.cfg.Group)
}

// Publish publishes with QoS 1 and waits for the broker's PUBACK or ctx.
func (c *Client) Publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	c.mu.Lock()
	pc := c.conn
	c.mu.Unlock()
	if pc == nil || !pc.IsConnectionOpen() {
		return fmt.Errorf("publish %s: %w", topic, ErrNotConnected)
	}
	tok := pc.Publish(topic, 1, retain, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish %s: %w", topic, ctx.Err())
	}
}

// Check reports whether the client is connected, for health checks.
func (c *Client) Check(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil || !c.conn.IsConnectionOpen() {
		return ErrNotConnected
	}
	return nil
}

// brokerURL maps the mqtt:// and mqtts:// schemes to paho's.
func brokerURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	switch u.Scheme {
	case "mqtt":
		u.Scheme = "tcp"
	case "mqtts":
		u.Scheme = "ssl"
	}
	return u.String()
}

// PublishAsync publishes msgs with QoS 1, all at once, and returns
// without waiting for the broker; wait waits for the broker's PUBACK of
// each, or ctx, and returns the error of each.
func (c *Client) PublishAsync(msgs []Publication) (wait func(ctx context.Context) []error) {
	c.mu.Lock()
	pc := c.conn
	c.mu.Unlock()
	errs := make([]error, len(msgs))
	if pc == nil || !pc.IsConnectionOpen() {
		for i, m := range msgs {
			errs[i] = fmt.Errorf("publish %s: %w", m.Topic, ErrNotConnected)
		}
		return func(context.Context) []error { return errs }
	}
	toks := make([]paho.Token, len(msgs))
	for i, m := range msgs {
		toks[i] = pc.Publish(m.Topic, 1, m.Retain, m.Payload)
	}
	return func(ctx context.Context) []error {
		for i, tok := range toks {
			select {
			case <-tok.Done():
				if err := tok.Error(); err != nil {
					errs[i] = fmt.Errorf("publish %s: %w", msgs[i].Topic, err)
				}
			case <-ctx.Done():
				errs[i] = fmt.Errorf("publish %s: %w", msgs[i].Topic, ctx.Err())
			}
		}
		return errs
	}
}

package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/pki"
)

// Limits on what the broker keeps per client; see the package comment.
const (
	// MaxWritesPending is how many messages may wait to be written to one
	// client. mochi-mqtt allocates the whole queue when a client connects
	// and keeps it with the session: its default of 8192 cost 64 KiB per
	// device, a third of what the gateway spent per connected device
	// (bench/RESULTS.md). Devices receive little (acks, desired state,
	// commands); 256 takes 2 KiB. A subscriber further behind loses
	// messages, counted in Stats.MessagesDropped.
	MaxWritesPending = 256
	// MaxInflight is how many QoS 1 and 2 messages one client may leave
	// unacknowledged (mochi-mqtt's maximum); more are dropped and counted
	// in Stats.InflightDropped.
	MaxInflight = 65535
	// MaxPacketBytes bounds any packet a client sends: a telemetry
	// document with room for its topic.
	MaxPacketBytes = 2 * telemetry.MaxDocumentBytes
	// SessionExpiry is how long a disconnected persistent session, with
	// its subscriptions and queued messages, is kept.
	SessionExpiry = 7 * 24 * time.Hour
)

// ErrClosed is returned by a closed broker.
var ErrClosed = errors.New("broker closed")

// Config is how the embedded broker listens and whom it admits.
type Config struct {
	// Addr is the TCP address to listen on, e.g. ":8883" or
	// "127.0.0.1:0" for any free port.
	Addr string
	// TLS, when set, makes the listener speak TLS. It must require and
	// verify client certificates (pki.ServerTLS builds such a config).
	TLS *tls.Config
	// InsecureDevAuth takes a device's identity from its CONNECT username
	// "{tenant}/{device}" without any proof. For development and demos on
	// plain TCP only: anyone can claim to be any device.
	InsecureDevAuth bool
	// Services are the certificate identities allowed every device's
	// topics, e.g. other gateway replicas; nil means
	// []string{pki.DefaultService}.
	Services []string
}

// Validate returns every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("broker: listen address is empty"))
	} else if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("broker: listen address %q: %w", c.Addr, err))
	}
	if c.TLS != nil && c.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
		errs = append(errs, errors.New("broker: TLS must require and verify client certificates (tls.RequireAndVerifyClientCert)"))
	}
	if c.TLS == nil && !c.InsecureDevAuth {
		errs = append(errs, errors.New("broker: a plain-TCP listener admits no one: give it TLS certificates, or allow insecure development authentication"))
	}
	for _, s := range c.Services {
		if _, err := pki.ServiceIdentity(s); err != nil {
			errs = append(errs, fmt.Errorf("broker: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Stats counts what the broker did since it started.
type Stats struct {
	ClientsConnected int64 `json:"clients_connected"`
	MessagesReceived int64 `json:"messages_received"`
	MessagesSent     int64 `json:"messages_sent"`
	// MessagesDropped counts messages a client's full write queue refused.
	MessagesDropped int64 `json:"messages_dropped"`
	// InflightDropped counts QoS 1 and 2 messages dropped because a
	// client already had MaxInflight of them.
	InflightDropped int64 `json:"inflight_dropped"`
	// Refused counts connections closed before the broker saw them: a
	// failed TLS handshake, no CONNECT, an unsupported protocol level.
	Refused      int64 `json:"refused"`
	AuthFailures int64 `json:"auth_failures"`
	Denied       int64 `json:"denied"` // publishes, subscriptions and deliveries the ACL refused
	Panics       int64 `json:"panics"` // recovered at a connection boundary; should stay 0
}

type counters struct {
	refused, authFailures, denied, panics atomic.Int64
}

// Broker is a running embedded broker.
type Broker struct {
	srv    *mqtt.Server
	ln     *listener
	stats  counters
	subID  atomic.Int64
	closed atomic.Bool
	once   sync.Once
}

// New listens on cfg.Addr and starts serving. The caller owns the broker
// and must Close it.
func New(cfg Config, logger *slog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	services := cfg.Services
	if services == nil {
		services = []string{pki.DefaultService}
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = MaxPacketBytes
	caps.MaximumInflight = MaxInflight
	caps.MaximumClientWritesPending = MaxWritesPending
	caps.MaximumMessageExpiryInterval = 0 // retained and queued messages never expire
	caps.MaximumSessionExpiryInterval = uint32(SessionExpiry / time.Second)
	caps.MinimumProtocolVersion = levelMQTT31
	srv := mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		Logger:                 logger,
		InlineClient:           true,
		SysTopicResendInterval: 10,
	})
	b := &Broker{srv: srv}
	hook := &authHook{devAuth: cfg.InsecureDevAuth, services: map[string]bool{}, stats: &b.stats, log: logger}
	for _, s := range services {
		hook.services[s] = true
	}
	if err := srv.AddHook(hook, nil); err != nil {
		return nil, fmt.Errorf("broker: add auth hook: %w", err)
	}
	ln, err := newListener("patchbay", cfg.Addr, cfg.TLS, &b.stats, logger)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	ln.panicd = b.forget
	b.ln = ln
	if err := srv.AddListener(ln); err != nil {
		_ = ln.ln.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := srv.Serve(); err != nil {
		b.Close()
		return nil, fmt.Errorf("broker: serve: %w", err)
	}
	return b, nil
}

// Addr is the address the broker listens on.
func (b *Broker) Addr() net.Addr { return b.ln.ln.Addr() }

// Close disconnects every client, stops listening and waits for the
// broker's goroutines. Calling it again does nothing.
func (b *Broker) Close() error {
	b.once.Do(func() {
		b.closed.Store(true)
		_ = b.srv.Close() // always nil
		b.ln.wait()
	})
	return nil
}

// Check reports whether the broker is serving, for health checks.
func (b *Broker) Check(context.Context) error {
	if b.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Publish publishes a message from the gateway itself, with QoS 1, to
// every subscriber allowed to receive it. It does not wait for delivery.
func (b *Broker) Publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	if b.closed.Load() {
		return fmt.Errorf("publish %s: %w", topic, ErrClosed)
	}
	if err := b.srv.Publish(topic, payload, retain, 1); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// Subscribe calls fn for every message published on a topic matching
// filter, including retained ones at once, until the broker closes. fn
// runs on the publishing client's goroutine: while it blocks, that client
// waits, which is how a busy gateway slows its devices down instead of
// dropping their messages. fn must not call Subscribe.
func (b *Broker) Subscribe(filter string, fn func(topic string, payload []byte)) error {
	if b.closed.Load() {
		return fmt.Errorf("subscribe %s: %w", filter, ErrClosed)
	}
	id := int(b.subID.Add(1))
	err := b.srv.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		fn(pk.TopicName, pk.Payload)
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	return nil
}

// Stats returns the broker's counters.
func (b *Broker) Stats() Stats {
	info := b.srv.Info.Clone()
	return Stats{
		ClientsConnected: info.ClientsConnected,
		MessagesReceived: info.MessagesReceived,
		MessagesSent:     info.MessagesSent,
		MessagesDropped:  info.MessagesDropped,
		InflightDropped:  info.InflightDropped,
		Refused:          b.stats.refused.Load(),
		AuthFailures:     b.stats.authFailures.Load(),
		Denied:           b.stats.denied.Load(),
		Panics:           b.stats.panics.Load(),
	}
}

// forget removes the client of a connection whose handler panicked, with
// its subscriptions, since mochi-mqtt did not get to.
func (b *Broker) forget(c net.Conn) {
	for id, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Conn == c {
			b.srv.UnsubscribeClient(cl)
			b.srv.Clients.Delete(id)
		}
	}
}

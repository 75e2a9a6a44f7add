package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// connectTimeout bounds the TLS handshake and the CONNECT packet of a new
// connection; after CONNECT, the client's keepalive sets the deadline.
const connectTimeout = 10 * time.Second

// listener is a mochi-mqtt listener that admits a connection to the broker
// only after its TLS handshake (if any) and a CONNECT at a supported
// protocol level, and that recovers a panic at the connection boundary.
type listener struct {
	id     string
	ln     net.Listener
	tls    *tls.Config
	log    *slog.Logger
	stats  *counters
	panicd func(c net.Conn) // forgets the broker's client of c after a panic

	closing chan struct{}  // closed by Close
	wg      sync.WaitGroup // the accept loop and one per connection
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
}

var _ listeners.Listener = (*listener)(nil)

func newListener(id, addr string, tlsConfig *tls.Config, stats *counters, logger *slog.Logger) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return &listener{
		id: id, ln: ln, tls: tlsConfig, log: logger, stats: stats,
		closing: make(chan struct{}), conns: map[net.Conn]struct{}{},
	}, nil
}

func (l *listener) ID() string      { return l.id }
func (l *listener) Address() string { return l.ln.Addr().String() }
func (l *listener) Protocol() string {
	if l.tls != nil {
		return "mqtts"
	}
	return "mqtt"
}

// Init is called by mochi-mqtt; the socket is already open.
func (l *listener) Init(*slog.Logger) error { return nil }

// Serve accepts connections until Close; mochi-mqtt calls it on a
// goroutine of its own, which wait accounts for.
func (l *listener) Serve(establish listeners.EstablishFn) {
	if !l.track(nil) {
		return
	}
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.isClosed() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.log.Warn("accept failed; will retry", "error", err)
			select {
			case <-l.closing:
				return
			case <-time.After(50 * time.Millisecond): // EMFILE and the like
			}
			continue
		}
		if !l.track(c) {
			_ = c.Close()
			return
		}
		go l.handle(c, establish)
	}
}

// track counts a goroutine (and remembers its connection, if any) unless
// the listener is closed.
func (l *listener) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Add(1)
	if c != nil {
		l.conns[c] = struct{}{}
	}
	return true
}

func (l *listener) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	l.wg.Done()
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// handle admits one connection and hands it to the broker.
func (l *listener) handle(raw net.Conn, establish listeners.EstablishFn) {
	defer l.untrack(raw)
	defer raw.Close()
	remote := raw.RemoteAddr().String()
	c, err := l.admit(raw)
	if err != nil {
		l.log.Debug("connection refused", "remote", remote, "error", err)
		return
	}
	defer func() {
		if r := recover(); r != nil {
			l.stats.panics.Add(1)
			l.log.Error("connection handler panicked; connection closed",
				"remote", remote, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			if l.panicd != nil {
				l.panicd(c)
			}
		}
	}()
	if err := establish(l.id, c); err != nil {
		l.log.Debug("client connection ended", "remote", remote, "error", err)
	}
}

// admit completes the TLS handshake and checks the CONNECT's protocol
// level, answering an unsupported one with a CONNACK.
func (l *listener) admit(raw net.Conn) (*conn, error) {
	if err := raw.SetDeadline(time.Now().Add(connectTimeout)); err != nil {
		return nil, err
	}
	c := &conn{Conn: raw}
	if l.tls != nil {
		tc := tls.Server(raw, l.tls)
		// Close ends a handshake in progress by closing raw.
		ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			l.stats.refused.Add(1)
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		c.Conn = tc
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			c.cert = certs[0]
		}
	}
	c.r = bufio.NewReader(c.Conn)
	level, err := peekConnect(c.r)
	if err != nil {
		l.stats.refused.Add(1)
		return nil, err
	}
	if !supportedLevel(level) {
		l.stats.refused.Add(1)
		_, _ = c.Conn.Write(connackRefusedVersion)
		return nil, fmt.Errorf("MQTT protocol level %d refused: Patchbay speaks MQTT 3.1.1 (level 4) and 3.1 (level 3)", level)
	}
	// The deadline stays until the broker has read the CONNECT; then the
	// client's keepalive replaces it.
	return c, nil
}

// Close stops accepting, closes every connection, waits until their
// goroutines have ended, and then lets the broker sweep what is left.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	close(l.closing)
	_ = l.ln.Close()
	// Close every connection and let its goroutine end before the broker
	// sweeps its clients: mochi v2.7.9's Clients.GetByListener takes its
	// read lock twice, which deadlocks against a disconnecting client's
	// Delete taking the write lock in between (seen in CI: Close hung).
	l.mu.Lock()
	for c := range l.conns {
		_ = c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	closeClients(l.id)
}

// wait returns once every goroutine of the listener has ended.
func (l *listener) wait() { l.wg.Wait() }

// conn is an admitted connection: reads go through the buffer holding the
// peeked CONNECT, and cert is the verified client certificate, if any.
type conn struct {
	net.Conn
	r    *bufio.Reader
	cert *x509.Certificate
}

func (c *conn) Read(p []byte) (int, error) { return c.r.Read(p) }

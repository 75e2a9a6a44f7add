package report

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/outbox"
	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/testbench/services"
)

func TestMain(m *testing.M) { services.Main(m) }

const (
	tenant = "acme"
	device = "rtr-1"
	// patience bounds every wait of these tests; reconnecting after a
	// broker restart takes paho's back-off of 1 s, 2 s, 4 s….
	patience = 30 * time.Second
)

var at = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// fakeHandler records what the reporter hands over.
type fakeHandler struct {
	mu         sync.Mutex
	commands   []telemetry.Command
	desired    []telemetry.Desired
	commandErr error
}

func (h *fakeHandler) Command(_ context.Context, cmd telemetry.Command) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.commands = append(h.commands, cmd)
	return h.commandErr
}

func (h *fakeHandler) Desired(_ context.Context, d telemetry.Desired) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.desired = append(h.desired, d)
	return nil
}

func (h *fakeHandler) snapshot() ([]telemetry.Command, []telemetry.Desired) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]telemetry.Command(nil), h.commands...), append([]telemetry.Desired(nil), h.desired...)
}

// agent is a reporter running on its own goroutine, with its outbox.
type agent struct {
	r    *Reporter
	ob   *outbox.Outbox
	h    *fakeHandler
	stop func() // cancels Run and waits for it; idempotent
}

type agentOptions struct {
	broker      config.Broker
	resendAfter time.Duration
	state       *telemetry.State
}

func startAgent(t *testing.T, o agentOptions) *agent {
	t.Helper()
	ob, err := outbox.Open(t.TempDir(), 1<<20, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if o.broker.KeepAlive == 0 {
		o.broker.KeepAlive = config.Duration(5 * time.Second)
	}
	h := &fakeHandler{}
	r, err := New(Options{Tenant: tenant, DeviceID: device, Broker: o.broker, Outbox: ob, Handler: h, Logger: testLogger(t), ResendAfter: o.resendAfter})
	if err != nil {
		t.Fatal(err)
	}
	if o.state != nil {
		if err := r.PublishState(t.Context(), *o.state); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			case <-time.After(patience):
				t.Errorf("Run did not return %v after its context ended", patience)
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if err := ob.Close(); err != nil {
			t.Errorf("close outbox: %v", err)
		}
	})
	return &agent{r: r, ob: ob, h: h, stop: stop}
}

func (a *agent) emit(t *testing.T, typ string, i int) telemetry.Event {
	t.Helper()
	ev := telemetry.Event{Time: at.Add(time.Duration(i) * time.Second), Type: typ, Phase: "downloading", Message: "event " + strconv.Itoa(i)}
	seq, err := a.r.Emit(t.Context(), ev)
	if err != nil {
		t.Fatalf("Emit = %v", err)
	}
	ev.Seq, ev.Schema = seq, telemetry.SchemaVersion
	return ev
}

// statusMsg is one message seen on the status topic.
type statusMsg struct {
	payload  string
	retained bool
}

// gateway plays the gateway with a plain paho client: it records what the
// device publishes and, when autoAck is on, acknowledges the highest
// contiguous sequence number it holds, retained, as the real one does.
type gateway struct {
	t       *testing.T
	c       mqtt.Client
	autoAck bool

	mu       sync.Mutex
	status   []statusMsg
	states   []telemetry.State
	events   map[uint64]telemetry.Event
	receipts map[uint64]int
	have     map[uint64]bool // sequence numbers stored, dropped runs included
	acked    uint64
	bad      []error // undecodable payloads
}

func startGateway(t *testing.T, url string, tlsConf *tls.Config, autoAck bool) *gateway {
	t.Helper()
	g := &gateway{t: t, autoAck: autoAck, events: map[uint64]telemetry.Event{}, receipts: map[uint64]int{}, have: map[uint64]bool{}}
	filter := telemetry.Prefix + "/" + tenant + "/" + device + "/#"
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID("test-gateway-" + strconv.FormatInt(time.Now().UnixNano(), 36)).
		SetCleanSession(true).
		SetOrderMatters(false).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(time.Second).
		SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).
		SetDefaultPublishHandler(g.onMessage).
		SetOnConnectHandler(func(c mqtt.Client) {
			c.Subscribe(filter, 1, g.onMessage).WaitTimeout(patience)
		})
	if tlsConf != nil {
		opts.SetTLSConfig(tlsConf)
	}
	g.c = mqtt.NewClient(opts)
	if tok := g.c.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("gateway connect: %v", tok.Error())
	}
	t.Cleanup(func() { g.c.Disconnect(100) })
	return g
}

func (g *gateway) onMessage(_ mqtt.Client, m mqtt.Message) {
	dt, err := telemetry.ParseTopic(m.Topic())
	if err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch dt.Kind {
	case telemetry.KindStatus:
		g.status = append(g.status, statusMsg{string(m.Payload()), m.Retained()})
	case telemetry.KindState:
		var st telemetry.State
		if err := telemetry.Unmarshal(m.Payload(), &st); err != nil {
			g.bad = append(g.bad, err)
			return
		}
		g.states = append(g.states, st)
	case telemetry.KindEvents:
		var ev telemetry.Event
		if err := telemetry.Unmarshal(m.Payload(), &ev); err != nil {
			g.bad = append(g.bad, err)
			return
		}
		g.receipts[ev.Seq]++
		g.events[ev.Seq] = ev
		first := ev.Seq
		if ev.Reason == outbox.ReasonDropped {
			if n, err := strconv.ParseUint(ev.Data[outbox.DataFirstSeq], 10, 64); err == nil {
				first = n
			}
		}
		for s := first; s <= ev.Seq; s++ {
			g.have[s] = true
		}
		if g.autoAck {
			for g.have[g.acked+1] {
				g.acked++
			}
			g.publishAck(g.acked)
		}
	}
}

// publishAck publishes an ack document, retained, without waiting (it may
// run in a paho callback).
func (g *gateway) publishAck(seq uint64) mqtt.Token {
	b, err := telemetry.Marshal(&telemetry.Ack{Seq: seq, Time: time.Now().UTC()})
	if err != nil {
		g.t.Errorf("encode ack: %v", err)
	}
	return g.c.Publish(telemetry.Topic(tenant, device, telemetry.KindAck), 1, true, b)
}

func (g *gateway) ack(t *testing.T, seq uint64) {
	t.Helper()
	if tok := g.publishAck(seq); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("publish ack %d: %v", seq, tok.Error())
	}
}

// publish sends a payload to one of the device's topics and waits.
func (g *gateway) publish(t *testing.T, kind telemetry.Kind, payload []byte, retained bool) {
	t.Helper()
	if tok := g.c.Publish(telemetry.Topic(tenant, device, kind), 1, retained, payload); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", kind, tok.Error())
	}
}

// waitFor polls cond, under the gateway's lock, until it holds.
func (g *gateway) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		g.mu.Lock()
		ok := cond()
		g.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			g.mu.Lock()
			defer g.mu.Unlock()
			t.Fatalf("gateway waited %v for %s; it saw status %v, %d states, events %v, bad payloads %v", patience, what, g.status, len(g.states), keys(g.receipts), g.bad)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastStatus is the last status message; call with g.mu held.
func (g *gateway) lastStatus() statusMsg {
	if len(g.status) == 0 {
		return statusMsg{}
	}
	return g.status[len(g.status)-1]
}

func keys(m map[uint64]int) []uint64 {
	var out []uint64
	for k := range m {
		out = append(out, k)
	}
	return out
}

// waitOutbox polls the outbox until cond holds.
func waitOutbox(t *testing.T, ob *outbox.Outbox, what string, cond func(outbox.Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond(ob.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("outbox waited %v for %s; stats %+v", patience, what, ob.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// proxy forwards TCP connections to a broker and can cut them all at once,
// the way a lost link or a dead NAT entry does: the broker sees the
// connection end without a DISCONNECT.
type proxy struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		l.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) URL() string { return "tcp://" + p.l.Addr().String() }

func (p *proxy) accept() {
	for {
		down, err := p.l.Accept()
		if err != nil {
			return // closed
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		p.wg.Go(func() { pipe(up, down) })
		p.wg.Go(func() { pipe(down, up) })
	}
}

// Cut closes every forwarded connection, both ends.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

package broker

import (
	"context"
	"crypto/tls"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"patchbay.dev/gateway/broker/brokertest"
	"patchbay.dev/gateway/pki"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// start starts a broker on a free port of 127.0.0.1 and closes it when the
// test ends, checking that no connection handler panicked.
func start(t testing.TB, cfg Config) *Broker {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	b, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if n := b.Stats().Panics; n != 0 {
			t.Errorf("Stats().Panics = %d, want 0", n)
		}
		brokertest.NoGoroutines(t, "github.com/mochi-mqtt/server", "patchbay.dev/gateway/broker.")
	})
	return b
}

func startDev(t testing.TB) *Broker {
	return start(t, Config{InsecureDevAuth: true})
}

// inbox subscribes the gateway's in-process client to filter.
type inbox struct {
	mu  sync.Mutex
	got []string
}

func subscribe(t testing.TB, b *Broker, filter string) *inbox {
	t.Helper()
	in := &inbox{}
	if err := b.Subscribe(filter, func(topic string, payload []byte) {
		in.mu.Lock()
		in.got = append(in.got, topic+" "+string(payload))
		in.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	return in
}

func (in *inbox) waitFor(t testing.TB, msg string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		in.mu.Lock()
		ok := slices.Contains(in.got, msg)
		in.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("in-process subscriber: no %q within 10s; got %q", msg, in.all())
}

func (in *inbox) all() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.got)
}

func url(b *Broker) string { return "tcp://" + b.Addr().String() }

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none for a valid config
	}{
		{"dev", Config{Addr: ":1883", InsecureDevAuth: true}, nil},
		{"no address", Config{InsecureDevAuth: true}, []string{"listen address is empty"}},
		{"bad address", Config{Addr: "1883", InsecureDevAuth: true}, []string{"missing port"}},
		{"plain tcp without dev auth", Config{Addr: ":1883"}, []string{"admits no one"}},
		{"bad service", Config{Addr: ":1883", InsecureDevAuth: true, Services: []string{"a/b"}}, []string{`service "a/b"`}},
		{"every problem", Config{Services: []string{"#"}}, []string{"empty", "admits no one", `service "#"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (len(tt.want) == 0) {
				t.Fatalf("Validate() = %v, want problems %q", err, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestACLCheck(t *testing.T) {
	h := &authHook{services: map[string]bool{"patchbay-gateway": true}, stats: &counters{}, log: testLogger(t)}
	tests := []struct {
		who   string // the client's username after authentication
		topic string
		write bool
		want  bool
	}{
		{"acme/rtr-1", "pb/v1/acme/rtr-1/status", true, true},
		{"acme/rtr-1", "pb/v1/acme/rtr-1/state", true, true},
		{"acme/rtr-1", "pb/v1/acme/rtr-1/events", true, true},
		{"acme/rtr-1", "pb/v1/acme/rtr-1/ack", true, false},
		{"acme/rtr-1", "pb/v1/acme/rtr-1/desired", true, false},
		{"acme/rtr-1", "pb/v1/acme/rtr-1/cmd", true, false},
		{"acme/rtr-1", "pb/v1/acme/rtr-2/events", true, false},
		{"acme/rtr-1", "pb/v1/globex/rtr-1/events", true, false},
		{"acme/rtr-1", "pb/v1/acme/rtr-1/events/more", true, false},
		{"acme/rtr-1", "$SYS/broker/clients", true, false},
		{"acme/rtr-1", "pb/v1/acme/rtr-1/desired", false, true},
		{"acme/rtr-1", "pb/v1/acme/rtr-1/cmd", false, true},
		{"acme/rtr-1", "pb/v1/acme/rtr-1/ack", false, true},
		{"acme/rtr-1", "pb/v1/acme/rtr-1/events", false, false},
		{"acme/rtr-1", "pb/v1/acme/rtr-2/ack", false, false},
		{"acme/rtr-1", "pb/v1/acme/+/ack", false, false},
		{"acme/rtr-1", "pb/v1/acme/rtr-1/+", false, false},
		{"acme/rtr-1", "pb/v1/#", false, false},
		{"acme/rtr-1", "#", false, false},
		{"acme/rtr-1", "$share/g/pb/v1/acme/rtr-1/ack", false, false},
		{"acme/rtr-1", "$SYS/#", false, false},
		{"patchbay-gateway", "pb/v1/acme/rtr-1/ack", true, true},
		{"patchbay-gateway", "$share/patchbay/pb/v1/+/+/events", false, true},
		{"intruder", "pb/v1/acme/rtr-1/ack", true, false},
		{"intruder", "pb/v1/acme/rtr-1/events", false, false},
		{"", "pb/v1/acme/rtr-1/events", true, false},
	}
	for _, tt := range tests {
		cl := &mqtt.Client{ID: "c"}
		cl.Properties.Username = []byte(tt.who)
		if got := h.OnACLCheck(cl, tt.topic, tt.write); got != tt.want {
			t.Errorf("OnACLCheck(%q, %q, write=%t) = %t, want %t", tt.who, tt.topic, tt.write, got, tt.want)
		}
	}
}

func TestAuthenticateDevUsername(t *testing.T) {
	h := &authHook{devAuth: true, services: map[string]bool{"patchbay-gateway": true}, stats: &counters{}, log: testLogger(t)}
	tests := []struct {
		name     string
		username string
		will     string
		want     bool
	}{
		{"device", "acme/rtr-1", "", true},
		{"device with own will", "acme/rtr-1", "pb/v1/acme/rtr-1/status", true},
		{"will on another device", "acme/rtr-1", "pb/v1/acme/rtr-2/status", false},
		{"will on own ack", "acme/rtr-1", "pb/v1/acme/rtr-1/ack", false},
		{"service by username", "patchbay-gateway", "", false},
		{"no username", "", "", false},
		{"wildcard tenant", "+/rtr-1", "", false},
		{"three levels", "acme/rtr-1/x", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := &mqtt.Client{ID: "sent-by-client"}
			pk := packets.Packet{Connect: packets.ConnectParams{Username: []byte(tt.username), WillFlag: tt.will != "", WillTopic: tt.will}}
			if got := h.OnConnectAuthenticate(cl, pk); got != tt.want {
				t.Fatalf("OnConnectAuthenticate(%q, will %q) = %t, want %t", tt.username, tt.will, got, tt.want)
			}
			if tt.want && cl.ID != tt.username {
				t.Errorf("client ID = %q, want the identity %q", cl.ID, tt.username)
			}
		})
	}
}

// TestIsolationTLS runs the broker conformance suite against the embedded
// broker with client certificates.
func TestIsolationTLS(t *testing.T) {
	dir := brokertest.NewPKI(t)
	certFile, keyFile := dir.Server()
	caFile, _ := dir.CA()
	tlsConfig, err := pki.ServerTLS(certFile, keyFile, caFile)
	if err != nil {
		t.Fatal(err)
	}
	b := start(t, Config{TLS: tlsConfig})
	brokertest.Run(t, "ssl://"+b.Addr().String(), dir)
	if b.Stats().Denied == 0 {
		t.Errorf("Stats().Denied = 0 after the suite's forged publishes")
	}
}

func TestTLSRefusals(t *testing.T) {
	dir := brokertest.NewPKI(t)
	other := brokertest.NewPKI(t) // another CA
	certFile, keyFile := dir.Server()
	caFile, _ := dir.CA()
	tlsConfig, err := pki.ServerTLS(certFile, keyFile, caFile)
	if err != nil {
		t.Fatal(err)
	}
	b := start(t, Config{TLS: tlsConfig})
	intruder := pki.Identity{Service: "intruder"}
	brokertest.Issue(t, dir, intruder)
	noCert := brokertest.ClientTLS(t, dir, brokertest.DeviceA)
	noCert.Certificates = nil
	foreign := brokertest.ClientTLS(t, other, brokertest.DeviceA)
	foreign.RootCAs = noCert.RootCAs // trusts the server, but its certificate is from another CA
	tests := []struct {
		name string
		tls  *tls.Config
	}{
		{"no client certificate", noCert},
		{"certificate of another CA", foreign},
		{"service the broker does not know", brokertest.ClientTLS(t, dir, intruder)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := brokertest.Dial("ssl://"+b.Addr().String(), tt.tls, "", nil)
			if err == nil {
				c.Disconnect(0)
				t.Fatal("connected, want a refusal")
			}
		})
	}
	if s := b.Stats(); s.Refused < 2 || s.AuthFailures < 1 {
		t.Errorf("Stats() = %+v, want 2 refused handshakes and 1 authentication failure", s)
	}
}

func TestDevSessionsCannotBeTakenOver(t *testing.T) {
	b := startDev(t)
	victim, err := brokertest.Dial(url(b), nil, "acme/rtr-2", func(o *paho.ClientOptions) { o.SetClientID("same-id") })
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Disconnect(0)
	attacker, err := brokertest.Dial(url(b), nil, "acme/rtr-1", func(o *paho.ClientOptions) { o.SetClientID("same-id") })
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Disconnect(0)
	time.Sleep(100 * time.Millisecond)
	if !victim.IsConnectionOpen() {
		t.Error("a device that connected with the same client ID took over another device's session")
	}
}

func TestPublishAfterClose(t *testing.T) {
	b := startDev(t)
	b.Close()
	if err := b.Publish(context.Background(), "pb/v1/a/b/ack", nil, true); err == nil {
		t.Error("Publish after Close succeeded")
	}
	if err := b.Check(context.Background()); err == nil {
		t.Error("Check after Close succeeded")
	}
}

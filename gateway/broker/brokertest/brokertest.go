package brokertest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/pki"
)

// The identities the suite uses: two devices of one tenant, a device of
// another tenant with the same device ID as A, and the gateway.
var (
	DeviceA = pki.Identity{Tenant: "acme", Device: "rtr-1"}
	DeviceB = pki.Identity{Tenant: "acme", Device: "rtr-2"}
	DeviceC = pki.Identity{Tenant: "globex", Device: "rtr-1"}
	Gateway = pki.Identity{Service: pki.DefaultService}
)

const wait = 10 * time.Second

// NewPKI creates a CA in a temporary directory with a server certificate,
// client certificates for DeviceA, DeviceB, DeviceC and Gateway, and the
// mosquitto ACL file.
func NewPKI(t testing.TB) pki.Dir {
	t.Helper()
	dir := pki.Dir(t.TempDir())
	ca, err := pki.NewCA("", pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := dir.CA()
	if err := pki.WriteKeyPair(certFile, keyFile, &ca.KeyPair); err != nil {
		t.Fatal(err)
	}
	server, err := ca.IssueServer(nil, pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = dir.Server()
	if err := pki.WriteKeyPair(certFile, keyFile, server); err != nil {
		t.Fatal(err)
	}
	for _, id := range []pki.Identity{DeviceA, DeviceB, DeviceC, Gateway} {
		Issue(t, dir, id)
	}
	acl, err := pki.MosquittoACL(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteFile(dir.ACL(), acl, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Issue issues a client certificate for id from dir's CA unless dir has
// one already.
func Issue(t testing.TB, dir pki.Dir, id pki.Identity) {
	t.Helper()
	certFile, keyFile := dir.Client(id)
	ca, err := pki.LoadCA(dir.CA())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueClient(id, pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteKeyPair(certFile, keyFile, kp); err != nil && !errors.Is(err, fs.ErrExist) {
		t.Fatal(err)
	}
}

// ClientTLS returns the TLS configuration of a client presenting id's
// certificate from dir and trusting dir's CA.
func ClientTLS(t testing.TB, dir pki.Dir, id pki.Identity) *tls.Config {
	t.Helper()
	caFile, _ := dir.CA()
	certFile, keyFile := dir.Client(id)
	cfg, err := pki.ClientTLS(caFile, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Client is a connected MQTT 3.1.1 client that records what it receives.
type Client struct {
	paho.Client
	mu   sync.Mutex
	got  []paho.Message
	news chan struct{}
}

// Connect connects a clean-session client to brokerURL with id's
// certificate, and disconnects it when the test ends.
func Connect(t testing.TB, brokerURL string, dir pki.Dir, id pki.Identity) *Client {
	t.Helper()
	c, err := Dial(brokerURL, ClientTLS(t, dir, id), id.String(), nil)
	if err != nil {
		t.Fatalf("connect %s to %s: %v", id, brokerURL, err)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// Dial connects a clean-session client with the given TLS configuration
// (nil for none) and username (for the insecure development mode), and
// lets configure change its options.
func Dial(brokerURL string, tlsConfig *tls.Config, username string, configure func(*paho.ClientOptions)) (*Client, error) {
	c := &Client{news: make(chan struct{}, 1)}
	opts := paho.NewClientOptions().
		AddBroker(brokerURL).
		SetClientID(strings.ReplaceAll(username, "/", "-") + "-" + fmt.Sprint(time.Now().UnixNano())).
		SetUsername(username).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(wait).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.record(m) })
	if tlsConfig != nil {
		opts.SetTLSConfig(tlsConfig)
	}
	if configure != nil {
		configure(opts)
	}
	c.Client = paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		c.Disconnect(0)
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) record(m paho.Message) {
	c.mu.Lock()
	c.got = append(c.got, m)
	c.mu.Unlock()
	select {
	case c.news <- struct{}{}:
	default:
	}
}

// Received returns the topic and payload of every message received so
// far, as "topic payload".
func (c *Client) Received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.got {
		out = append(out, m.Topic()+" "+string(m.Payload()))
	}
	return out
}

// WaitFor waits until the client received "topic payload".
func (c *Client) WaitFor(t testing.TB, topic, payload string) {
	t.Helper()
	deadline := time.After(wait)
	for !slices.Contains(c.Received(), topic+" "+payload) {
		select {
		case <-c.news:
		case <-deadline:
			t.Fatalf("no %q on %s within %v; received %q", payload, topic, wait, c.Received())
		}
	}
}

// Subscribe subscribes with QoS 1 and returns the granted QoS (0x80 for
// a refusal) of each filter.
func (c *Client) Subscribe(t testing.TB, filters ...string) []byte {
	t.Helper()
	m := map[string]byte{}
	for _, f := range filters {
		m[f] = 1
	}
	tok := c.SubscribeMultiple(m, nil)
	if !tok.WaitTimeout(wait) {
		t.Fatalf("subscribe %v: timed out", filters)
	}
	res := tok.(*paho.SubscribeToken).Result()
	var granted []byte
	for _, f := range filters {
		granted = append(granted, res[f])
	}
	return granted
}

// Publish publishes and, for QoS 1, waits for the broker's PUBACK.
func (c *Client) Publish(t testing.TB, topic string, qos byte, retained bool, payload string) {
	t.Helper()
	tok := c.Client.Publish(topic, qos, retained, payload)
	if !tok.WaitTimeout(wait) {
		t.Fatalf("publish %s: timed out", topic)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// Run checks, on the broker at brokerURL (ssl://…) that verifies client
// certificates against dir's CA (see NewPKI), that devices are confined to
// their own topics and the gateway is not.
func Run(t *testing.T, brokerURL string, dir pki.Dir) {
	gw := Connect(t, brokerURL, dir, Gateway)
	var all []string
	for _, k := range append(slices.Clone(pki.DeviceWrites), pki.DeviceReads...) {
		all = append(all, telemetry.Topic("+", "+", k))
	}
	if granted := gw.Subscribe(t, all...); slices.Contains(granted, 0x80) {
		t.Fatalf("gateway subscribe %v: granted %v", all, granted)
	}
	a := Connect(t, brokerURL, dir, DeviceA)
	b := Connect(t, brokerURL, dir, DeviceB)
	topic := func(id pki.Identity, k telemetry.Kind) string { return telemetry.Topic(id.Tenant, id.Device, k) }

	t.Run("device publishes own topics", func(t *testing.T) {
		for _, k := range pki.DeviceWrites {
			a.Publish(t, topic(DeviceA, k), 1, false, "own-"+string(k))
			gw.WaitFor(t, topic(DeviceA, k), "own-"+string(k))
		}
	})

	t.Run("device cannot publish for others", func(t *testing.T) {
		forbidden := []string{
			topic(DeviceB, telemetry.KindEvents),
			topic(DeviceB, telemetry.KindState),
			topic(DeviceC, telemetry.KindEvents), // same device ID, other tenant
			topic(DeviceA, telemetry.KindAck),    // gateway-only kinds of its own
			topic(DeviceA, telemetry.KindDesired),
			topic(DeviceA, telemetry.KindCmd),
		}
		for _, f := range forbidden {
			a.Publish(t, f, 0, false, "forged") // QoS 0: a refused QoS 1 may cost the connection
		}
		a.Publish(t, topic(DeviceA, telemetry.KindEvents), 1, false, "marker-1")
		gw.WaitFor(t, topic(DeviceA, telemetry.KindEvents), "marker-1")
		for _, m := range gw.Received() {
			if strings.HasSuffix(m, " forged") {
				t.Errorf("gateway received %q that device %s published for another", m, DeviceA)
			}
		}
	})

	t.Run("device receives own topics only", func(t *testing.T) {
		var own, others []string
		for _, k := range pki.DeviceReads {
			own = append(own, topic(DeviceA, k))
			others = append(others, topic(DeviceB, k), topic(DeviceC, k))
		}
		if granted := a.Subscribe(t, own...); slices.Contains(granted, 0x80) {
			t.Fatalf("device subscribe %v: granted %v", own, granted)
		}
		// Refused or not, nothing of these may reach A. Mosquitto refuses
		// in SUBACK; the embedded broker too; both check each delivery.
		a.Subscribe(t, others...)
		a.Subscribe(t, "pb/v1/acme/+/ack", "pb/v1/#", "#", "$share/x/pb/v1/acme/rtr-2/cmd")
		if granted := b.Subscribe(t, topic(DeviceB, telemetry.KindAck), topic(DeviceB, telemetry.KindCmd)); slices.Contains(granted, 0x80) {
			t.Fatalf("device B subscribe: granted %v", granted)
		}
		for _, f := range others {
			gw.Publish(t, f, 1, false, "secret")
		}
		gw.Publish(t, topic(DeviceB, telemetry.KindAck), 1, true, "retained-secret")
		gw.WaitFor(t, topic(DeviceB, telemetry.KindAck), "retained-secret")
		b.WaitFor(t, topic(DeviceB, telemetry.KindAck), "retained-secret")
		b.WaitFor(t, topic(DeviceB, telemetry.KindCmd), "secret")
		for _, k := range pki.DeviceReads {
			gw.Publish(t, topic(DeviceA, k), 1, false, "for-a")
			a.WaitFor(t, topic(DeviceA, k), "for-a")
		}
		for _, m := range a.Received() {
			if strings.Contains(m, "secret") {
				t.Errorf("device %s received %q meant for another device", DeviceA, m)
			}
		}
		// A late subscriber gets retained messages: still not another's.
		// (It takes over A's session: one session per device.)
		late := Connect(t, brokerURL, dir, DeviceA)
		late.Subscribe(t, topic(DeviceB, telemetry.KindAck), "pb/v1/+/+/ack")
		late.Subscribe(t, topic(DeviceA, telemetry.KindAck))
		gw.Publish(t, topic(DeviceA, telemetry.KindAck), 1, false, "marker-2")
		late.WaitFor(t, topic(DeviceA, telemetry.KindAck), "marker-2")
		for _, m := range late.Received() {
			if strings.Contains(m, "secret") {
				t.Errorf("device %s received retained %q of another device", DeviceA, m)
			}
		}
	})

	t.Run("last will on another device's topic", func(t *testing.T) {
		forgeWill(t, brokerURL, ClientTLS(t, dir, DeviceC), DeviceC.String(), topic(DeviceA, telemetry.KindStatus))
		a := Connect(t, brokerURL, dir, DeviceA)
		a.Publish(t, topic(DeviceA, telemetry.KindStatus), 1, false, "marker-3")
		gw.WaitFor(t, topic(DeviceA, telemetry.KindStatus), "marker-3")
		time.Sleep(200 * time.Millisecond) // a will is published asynchronously
		for _, m := range gw.Received() {
			if strings.HasSuffix(m, " forged-will") {
				t.Errorf("gateway received the forged last will %q", m)
			}
		}
	})
}

// forgeWill connects with a last will on willTopic and drops the
// connection without DISCONNECT, so that a broker that accepted the will
// publishes it. A broker may instead refuse the CONNECT.
func forgeWill(t *testing.T, brokerURL string, tlsConfig *tls.Config, username, willTopic string) {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: wait}, Config: tlsConfig}
	c, err := d.Dial("tcp", u.Host)
	if err != nil {
		t.Fatalf("dial %s: %v", u.Host, err)
	}
	defer c.Close()
	if _, err := c.Write(ConnectPacket("forge-will", username, willTopic, "forged-will")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	connack := make([]byte, 4)
	_, _ = c.Read(connack) // accepted or refused, then dropped
}

// ConnectPacket returns an MQTT 3.1.1 CONNECT packet with a clean session,
// keepalive 60 s, and, when willTopic is not empty, a QoS 0 last will.
func ConnectPacket(clientID, username, willTopic, willPayload string) []byte {
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	flags := byte(0x02)
	body := append(str("MQTT"), 4, 0, 0, 60)
	payload := str(clientID)
	if willTopic != "" {
		flags |= 0x04
		payload = append(payload, str(willTopic)...)
		payload = append(payload, str(willPayload)...)
	}
	if username != "" {
		flags |= 0x80
		payload = append(payload, str(username)...)
	}
	body[7] = flags
	body = append(body, payload...)
	return append([]byte{0x10}, append(remainingLength(len(body)), body...)...)
}

func remainingLength(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

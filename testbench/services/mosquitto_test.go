package services

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// mqttClient connects a paho client; every message it receives, on any
// subscription, goes to the returned channel.
func mqttClient(t *testing.T, url, id string, clean bool, tlsConfig *tls.Config) (mqtt.Client, <-chan mqtt.Message, error) {
	t.Helper()
	msgs := make(chan mqtt.Message, 16)
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID(id).
		SetCleanSession(clean).
		SetAutoReconnect(false).
		SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { msgs <- m })
	if tlsConfig != nil {
		opts.SetTLSConfig(tlsConfig)
	}
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, nil, tokenError(tok)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, msgs, nil
}

func tokenError(tok mqtt.Token) error {
	if err := tok.Error(); err != nil {
		return err
	}
	return os.ErrDeadlineExceeded
}

// wait waits for tok and fails the test on an error.
func wait(t *testing.T, what string, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: %v", what, tokenError(tok))
	}
}

// receive returns the next message, failing the test after 10 s.
func receive(t *testing.T, msgs <-chan mqtt.Message) mqtt.Message {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatalf("no message within 10s")
		return nil
	}
}

func TestMosquittoRoundTrip(t *testing.T) {
	t.Parallel()
	broker := StartMosquitto(t, MosquittoConfig{})
	sub, msgs, err := mqttClient(t, broker.URL, "sub", true, nil)
	if err != nil {
		t.Fatalf("connect subscriber to %s: %v\nbroker log:\n%s", broker.URL, err, broker.Log())
	}
	wait(t, "subscribe", sub.Subscribe("pb/v1/acme/dev1/events", 1, nil))
	pub, _, err := mqttClient(t, broker.URL, "pub", true, nil)
	if err != nil {
		t.Fatalf("connect publisher: %v", err)
	}
	wait(t, "publish", pub.Publish("pb/v1/acme/dev1/events", 1, false, "seq=1"))
	m := receive(t, msgs)
	if m.Topic() != "pb/v1/acme/dev1/events" || string(m.Payload()) != "seq=1" || m.Qos() != 1 {
		t.Errorf("received %s %q QoS %d, want pb/v1/acme/dev1/events \"seq=1\" QoS 1", m.Topic(), m.Payload(), m.Qos())
	}
}

// A persistent session's queued QoS 1 message survives the broker being
// killed and started again on the same port.
func TestMosquittoKillRestartKeepsQueuedMessage(t *testing.T) {
	t.Parallel()
	broker := StartMosquitto(t, MosquittoConfig{Persistence: true})
	const topic, payload = "pb/v1/acme/dev1/cmd", "check-now 7f3a"

	sub, _, err := mqttClient(t, broker.URL, "gateway-1", false, nil)
	if err != nil {
		t.Fatalf("connect subscriber: %v", err)
	}
	wait(t, "subscribe", sub.Subscribe(topic, 1, nil))
	sub.Disconnect(100)

	pub, _, err := mqttClient(t, broker.URL, "pub", true, nil)
	if err != nil {
		t.Fatalf("connect publisher: %v", err)
	}
	wait(t, "publish", pub.Publish(topic, 1, false, payload))
	pub.Disconnect(100)

	// The broker saves after every change; wait until the queued message
	// is on disk, then cut the power.
	db := filepath.Join(broker.Dir, "data", "mosquitto.db")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(db)
		if bytes.Contains(b, []byte(payload)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not hold the queued message after 10s\nbroker log:\n%s", db, broker.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	addr := broker.Addr
	broker.Kill()
	if _, _, err := mqttClient(t, broker.URL, "probe", true, nil); err == nil {
		t.Fatalf("connected to a killed broker")
	}
	broker.Start()
	if broker.Addr != addr {
		t.Fatalf("restarted broker on %s, want %s", broker.Addr, addr)
	}

	_, msgs, err := mqttClient(t, broker.URL, "gateway-1", false, nil)
	if err != nil {
		t.Fatalf("reconnect subscriber: %v\nbroker log:\n%s", err, broker.Log())
	}
	m := receive(t, msgs)
	if m.Topic() != topic || string(m.Payload()) != payload {
		t.Errorf("received %s %q, want %s %q", m.Topic(), m.Payload(), topic, payload)
	}
}

func TestMosquittoStopStart(t *testing.T) {
	t.Parallel()
	broker := StartMosquitto(t, MosquittoConfig{Persistence: true})
	broker.Stop()
	broker.Stop() // twice is fine
	broker.Start()
	if _, _, err := mqttClient(t, broker.URL, "c", true, nil); err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
}

// pki is a test CA with the files mosquitto and clients need.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.caKey = newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "patchbay test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(p.dir, "ca.pem"), "CERTIFICATE", der)
	p.serial = 1
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes NAME.pem and NAME-key.pem for a server (with the IP SAN
// 127.0.0.1) or a client certificate with Common Name name.
func (p *pki) issue(t *testing.T, name string, server bool) (certFile, keyFile string) {
	t.Helper()
	p.serial++
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

// clientTLS is the TLS configuration of a client named name, or of one
// without a certificate when name is empty.
func (p *pki) clientTLS(t *testing.T, name string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if name != "" {
		certFile, keyFile := p.issue(t, name, false)
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// Devices authenticate with their certificate, whose Common Name is their
// username, and the ACL confines each to its own topics.
func TestMosquittoTLSClientCertsAndACL(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	certFile, keyFile := p.issue(t, "broker", true)
	acl := filepath.Join(p.dir, "acl")
	if err := os.WriteFile(acl, []byte("user gateway\ntopic read pb/v1/#\n\npattern readwrite pb/v1/acme/%u/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	broker := StartMosquitto(t, MosquittoConfig{
		TLS: &MosquittoTLS{
			CAFile: filepath.Join(p.dir, "ca.pem"), CertFile: certFile, KeyFile: keyFile,
			RequireClientCert: true, UseIdentityAsUsername: true,
		},
		DenyAnonymous: true,
		ACLFile:       acl,
	})
	if got, want := broker.URL, "ssl://"+broker.Addr; got != want {
		t.Errorf("URL = %s, want %s", got, want)
	}

	if _, _, err := mqttClient(t, broker.URL, "anonymous", true, p.clientTLS(t, "")); err == nil {
		t.Errorf("a client without a certificate connected")
	}

	gw, msgs, err := mqttClient(t, broker.URL, "gateway", true, p.clientTLS(t, "gateway"))
	if err != nil {
		t.Fatalf("connect gateway: %v\nbroker log:\n%s", err, broker.Log())
	}
	wait(t, "subscribe", gw.Subscribe("pb/v1/#", 1, nil))
	dev, _, err := mqttClient(t, broker.URL, "device-1", true, p.clientTLS(t, "device-1"))
	if err != nil {
		t.Fatalf("connect device: %v", err)
	}
	// The broker acknowledges and drops what the ACL denies; the allowed
	// message published after it arrives first.
	wait(t, "publish forged", dev.Publish("pb/v1/acme/device-2/events", 1, false, "forged"))
	wait(t, "publish", dev.Publish("pb/v1/acme/device-1/events", 1, false, "own"))
	if m := receive(t, msgs); m.Topic() != "pb/v1/acme/device-1/events" || string(m.Payload()) != "own" {
		t.Errorf("gateway received %s %q, want pb/v1/acme/device-1/events \"own\"", m.Topic(), m.Payload())
	}
}

func TestMosquittoConfDefaults(t *testing.T) {
	conf := mosquittoConf(MosquittoConfig{}, "/d", 1883)
	if bytes.Contains([]byte(conf), []byte("max_inflight_messages")) {
		t.Errorf("default configuration sets max_inflight_messages:\n%s", conf)
	}
	for _, want := range []string{"max_queued_messages 1000000\n", "listener 1883 127.0.0.1\n", "allow_anonymous true\n", "persistence false\n"} {
		if !bytes.Contains([]byte(conf), []byte(want)) {
			t.Errorf("default configuration lacks %q:\n%s", want, conf)
		}
	}
}

// An offline subscriber's persistent session queues more QoS 1 messages
// than mosquitto's default limit (1000) without dropping any.
func TestMosquittoQueuesBeyondDefaultLimit(t *testing.T) {
	t.Parallel()
	broker := StartMosquitto(t, MosquittoConfig{})
	const topic, n = "pb/v1/acme/dev1/events", 1500
	sub, _, err := mqttClient(t, broker.URL, "gateway-1", false, nil)
	if err != nil {
		t.Fatalf("connect subscriber: %v", err)
	}
	wait(t, "subscribe", sub.Subscribe(topic, 1, nil))
	sub.Disconnect(100)

	pub, _, err := mqttClient(t, broker.URL, "pub", true, nil)
	if err != nil {
		t.Fatalf("connect publisher: %v", err)
	}
	toks := make([]mqtt.Token, n)
	for i := range toks {
		toks[i] = pub.Publish(topic, 1, false, fmt.Sprintf("seq=%d", i))
	}
	for i, tok := range toks {
		wait(t, fmt.Sprintf("publish %d", i), tok)
	}

	got := make(chan string, n)
	opts := mqtt.NewClientOptions().AddBroker(broker.URL).SetClientID("gateway-1").SetCleanSession(false).
		SetAutoReconnect(false).SetOrderMatters(false).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) })
	c := mqtt.NewClient(opts)
	wait(t, "reconnect subscriber", c.Connect())
	defer c.Disconnect(100)
	seen := make(map[string]bool, n)
	timeout := time.After(30 * time.Second)
	for len(seen) < n {
		select {
		case p := <-got:
			seen[p] = true
		case <-timeout:
			t.Fatalf("received %d distinct messages of %d\nbroker log:\n%s", len(seen), n, broker.Log())
		}
	}
}

package report

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/outbox"
	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/testbench/services"
)

// pki is a test CA with the files of the certificates it issued.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	CAFile string
	serial int64
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "patchbay test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{dir: t.TempDir(), ca: ca, caKey: key, serial: 1}
	p.CAFile = p.write(t, "ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue returns the certificate and key files of a new leaf: a server for
// 127.0.0.1, or a client named cn.
func (p *pki) issue(t *testing.T, cn string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, cn+".pem", "CERTIFICATE", der), p.write(t, cn+".key", "PRIVATE KEY", keyDER)
}

// TestTLSClientCertificates connects over TLS to a broker that requires a
// client certificate signed by the fleet's CA.
func TestTLSClientCertificates(t *testing.T) {
	p := newPKI(t)
	serverCert, serverKey := p.issue(t, "broker", true)
	deviceCert, deviceKey := p.issue(t, device, false)
	gatewayCert, gatewayKey := p.issue(t, "gateway", false)
	broker := services.StartMosquitto(t, services.MosquittoConfig{
		TLS: &services.MosquittoTLS{CAFile: p.CAFile, CertFile: serverCert, KeyFile: serverKey, RequireClientCert: true, UseIdentityAsUsername: true},
	})
	if !strings.HasPrefix(broker.URL, "ssl://") {
		t.Fatalf("broker URL %q is not TLS", broker.URL)
	}
	gwTLS, err := tlsConfig(config.Broker{URL: broker.URL, CAFile: p.CAFile, CertFile: gatewayCert, KeyFile: gatewayKey})
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, broker.URL, gwTLS, true)
	a := startAgent(t, agentOptions{broker: config.Broker{URL: broker.URL, CAFile: p.CAFile, CertFile: deviceCert, KeyFile: deviceKey}})
	g.waitFor(t, "online over TLS", func() bool { return g.lastStatus().payload == telemetry.Online })
	a.emit(t, telemetry.EventResult, 1)
	g.waitFor(t, "an event over TLS", func() bool { return g.receipts[1] > 0 })

	// Without a client certificate the broker refuses the device.
	ob, err := outbox.Open(t.TempDir(), outbox.MinBytes, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	var logs bytes.Buffer
	refused, err := New(Options{Tenant: tenant, DeviceID: device, Outbox: ob, Handler: &fakeHandler{}, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Broker: config.Broker{URL: broker.URL, CAFile: p.CAFile, KeepAlive: config.Duration(5 * time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if err := refused.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := logs.String(); strings.Contains(got, "broker connected") || !strings.Contains(got, "broker connection failed") {
		t.Errorf("a device without a client certificate logged:\n%s\nwant only refused connections", got)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	p := newPKI(t)
	cert, key := p.issue(t, device, false)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		broker config.Broker
		want   string // in the error; "" for success
		tls    bool
	}{
		{"plain", config.Broker{URL: "tcp://127.0.0.1:1883"}, "", false},
		{"tls without files", config.Broker{URL: "mqtts://127.0.0.1:8883"}, "", true},
		{"tls with files", config.Broker{URL: "ssl://127.0.0.1:8883", CAFile: p.CAFile, CertFile: cert, KeyFile: key}, "", true},
		{"certificate on plain TCP", config.Broker{URL: "tcp://127.0.0.1:1883", CertFile: cert, KeyFile: key}, "not TLS", false},
		{"missing CA file", config.Broker{URL: "ssl://127.0.0.1:8883", CAFile: "/nonexistent/ca.pem"}, "broker.ca_file", false},
		{"CA file without PEM", config.Broker{URL: "ssl://127.0.0.1:8883", CAFile: notPEM}, "no PEM certificate", false},
		{"key does not match", config.Broker{URL: "ssl://127.0.0.1:8883", CertFile: cert, KeyFile: p.CAFile}, "broker.cert_file", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tlsConfig(tt.broker)
			if tt.want == "" {
				if err != nil || (c != nil) != tt.tls {
					t.Fatalf("tlsConfig = %v, %v; want TLS %v", c, err, tt.tls)
				}
				if c != nil && (c.MinVersion != tls.VersionTLS12 || c.ServerName != "127.0.0.1") {
					t.Errorf("tlsConfig = MinVersion %x ServerName %q; want TLS 1.2 and 127.0.0.1", c.MinVersion, c.ServerName)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("tlsConfig error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

package cli_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"patchbay.dev/gateway/broker/brokertest"
	"patchbay.dev/gateway/cli"
	"patchbay.dev/gateway/pki"
	"patchbay.dev/gateway/store"
	"patchbay.dev/testbench/services"
	"patchbay.dev/tools/command"
)

// run runs the CLI and returns its standard output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := cli.Run(t.Context(), args, strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), err
}

func TestMain(m *testing.M) { services.Main(m) }

func TestPKI(t *testing.T) {
	dir := t.TempDir()
	steps := []struct {
		args  []string
		want  string // in stdout
		usage bool   // a usage error
		fail  string // in the error
	}{
		{args: []string{"pki", "device", "--dir", dir, "acme", "rtr-1"}, fail: "ca.crt"},
		{args: []string{"pki", "init", "--dir", dir}, want: "ca.crt and"},
		{args: []string{"pki", "init", "--dir", dir}, fail: "already exists"},
		{args: []string{"pki", "server", "--dir", dir, "gw.example", "10.1.2.3"}, want: "server gw.example, localhost, 10.1.2.3, 127.0.0.1, ::1"},
		{args: []string{"pki", "device", "--dir", dir, "acme", "rtr-1"}, want: "(acme/rtr-1, valid until"},
		{args: []string{"pki", "device", "--dir", dir, "--json", "acme", "rtr-2"}, want: `"identity": "acme/rtr-2"`},
		{args: []string{"pki", "device", "--dir", dir, "acme", "rtr-1"}, fail: "already exists"},
		{args: []string{"pki", "device", "--dir", dir, "acme"}, usage: true},
		{args: []string{"pki", "device", "--dir", dir, "acme", "a/b"}, fail: "not a patchbay identity"},
		{args: []string{"pki", "service", "--dir", dir, "patchbay-gateway"}, want: "services/patchbay-gateway.crt"},
		{args: []string{"pki", "service", "--dir", dir, "acme/rtr-1"}, fail: "not a patchbay identity"},
		{args: []string{"pki", "acl", "--dir", dir}, want: "mosquitto.acl"},
		{args: []string{"pki", "acl", "--dir", dir, "patchbay-gateway", "replica-2"}, want: "mosquitto.acl"},
		{args: []string{"pki", "acl", "--out", "-", "replica-2"}, want: "user replica-2\n"},
		{args: []string{"pki", "nothing"}, usage: true},
	}
	for _, s := range steps {
		out, err := run(t, s.args...)
		switch {
		case s.usage:
			if !errors.Is(err, command.ErrUsage) {
				t.Errorf("%v: error %v, want a usage error", s.args, err)
			}
		case s.fail != "":
			if err == nil || !strings.Contains(err.Error(), s.fail) {
				t.Errorf("%v: error %v, want one mentioning %q", s.args, err, s.fail)
			}
		case err != nil:
			t.Errorf("%v: %v", s.args, err)
		case !strings.Contains(out, s.want):
			t.Errorf("%v: output %q, want it to contain %q", s.args, out, s.want)
		}
	}
	d := pki.Dir(dir)
	ca, err := pki.LoadCA(d.CA())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := d.Client(pki.Identity{Tenant: "acme", Device: "rtr-1"})
	kp, err := pki.LoadKeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := pki.IdentityOf(kp.Cert); err != nil || id.String() != "acme/rtr-1" {
		t.Errorf("device certificate names %v, %v; want acme/rtr-1", id, err)
	}
	if err := ca.Verify(kp.Cert, x509.ExtKeyUsageClientAuth, time.Now()); err != nil {
		t.Error(err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("device key mode %v, %v; want 0600", fi.Mode(), err)
	}
	acl, err := os.ReadFile(d.ACL())
	if err != nil || !bytes.Contains(acl, []byte("user replica-2\n")) {
		t.Errorf("ACL file not replaced by the second acl command: %v\n%s", err, acl)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestServeConfigValidate(t *testing.T) {
	def := cli.DefaultServeConfig()
	with := func(f func(*cli.ServeConfig)) cli.ServeConfig {
		c := def
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  cli.ServeConfig
		want []string // flags the error names; none for valid
	}{
		{"defaults need TLS", def, []string{"--tls-cert"}},
		{"dev", with(func(c *cli.ServeConfig) { c.InsecureDevAuth = true }), nil},
		{"embedded TLS", with(func(c *cli.ServeConfig) { c.TLSCert, c.TLSKey, c.TLSCA = "s.crt", "s.key", "ca.crt" }), nil},
		{"embedded TLS without CA", with(func(c *cli.ServeConfig) { c.TLSCert, c.TLSKey = "s.crt", "s.key" }), []string{"--tls-ca"}},
		{"cert without key", with(func(c *cli.ServeConfig) { c.TLSCert, c.TLSCA = "s.crt", "ca.crt" }), []string{"--tls-cert"}},
		{"external", with(func(c *cli.ServeConfig) { c.Broker = "tcp://127.0.0.1:1883" }), nil},
		{"external TLS without CA", with(func(c *cli.ServeConfig) { c.Broker = "ssl://127.0.0.1:8883" }), []string{"--tls-ca"}},
		{"external with dev auth", with(func(c *cli.ServeConfig) { c.Broker, c.InsecureDevAuth = "tcp://h:1", true }), []string{"--insecure-dev-auth"}},
		{"external without port", with(func(c *cli.ServeConfig) { c.Broker = "tcp://h" }), []string{"--broker"}},
		{"external without client ID", with(func(c *cli.ServeConfig) { c.Broker, c.ClientID = "tcp://h:1", "" }), []string{"--broker"}},
		{"every problem", cli.ServeConfig{LogLevel: "loud", MQTTListen: "x"}, []string{"--store", "--http-listen", "--mqtt-listen", "--tls-cert", "--log-level"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (len(tt.want) == 0) {
				t.Fatalf("Validate() = %v, want problems with %v", err, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to name %s", err, w)
				}
			}
		})
	}
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serve runs "patchbay-gateway serve args..." until the test ends, and
// waits until its /healthz answers 200.
func serve(t *testing.T, httpAddr string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, append([]string{"serve", "--http-listen", httpAddr}, args...), nil, &logs, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("serve did not stop within 20s of its context ending")
		}
		brokertest.NoGoroutines(t, "patchbay.dev/gateway/broker.", "patchbay.dev/gateway/ingest.", "patchbay.dev/gateway/cli.", "github.com/mochi-mqtt/server", "github.com/eclipse/paho.mqtt.golang", "net/http.(*conn)")
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	waitHealthy(t, httpAddr, done)
}

func waitHealthy(t testing.TB, httpAddr string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("gateway exited before it was healthy: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not healthy within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// deviceView is GET /api/v1/devices/{tenant}/{id}.
type deviceView struct {
	Device store.Device
	Events []store.StoredEvent
}

func getDevice(t testing.TB, httpAddr, tenant, id string, events int) deviceView {
	t.Helper()
	var v deviceView
	getJSON(t, fmt.Sprintf("http://%s/api/v1/devices/%s/%s?events=%d", httpAddr, tenant, id, events), &v)
	return v
}

func getJSON(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func getText(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}

package discover_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gosnmp/gosnmp"

	"patchbay.dev/agent/discover"
	"patchbay.dev/boards"
	"patchbay.dev/testbench/services"
)

func TestMain(m *testing.M) { services.Main(m) }

// device is what a recorded switch answers: its identity, and a subtree
// under enterprises with every type.
var device = []boards.SNMPVar{
	{OID: "1.3.6.1.2.1.1.1.0", Type: boards.SNMPTypeOctets, Value: "OpenWrt 23.05.3 r23809-234f1a2efa ath79/generic"},
	{OID: "1.3.6.1.2.1.1.2.0", Type: boards.SNMPTypeOID, Value: "1.3.6.1.4.1.8072.3.2.10"},
	{OID: "1.3.6.1.2.1.1.3.0", Type: boards.SNMPTypeTimeTicks, Value: "8640000"},
	{OID: "1.3.6.1.4.1.99999.1.1.0", Type: boards.SNMPTypeOctets, Value: "fw 2.4.1\n\x00\xff"},
	{OID: "1.3.6.1.4.1.99999.1.2.0", Type: boards.SNMPTypeInt, Value: "-2147483648"},
	{OID: "1.3.6.1.4.1.99999.1.3.0", Type: boards.SNMPTypeUint, Value: "4294967295"},
	{OID: "1.3.6.1.4.1.99999.1.4.0", Type: boards.SNMPTypeCounter64, Value: "18446744073709551615"},
	{OID: "1.3.6.1.4.1.99999.1.5.0", Type: boards.SNMPTypeIPAddress, Value: "192.0.2.7"},
	{OID: "1.3.6.1.4.1.99999.1.6.0", Type: boards.SNMPTypeOID, Value: "1.3.6.1.4.1.99999.2"},
	{OID: "1.3.6.1.4.1.99999.1.7.0", Type: boards.SNMPTypeOpaque, Value: "\x01\x02"},
	{OID: "1.3.6.1.4.1.99999.1.10.0", Type: boards.SNMPTypeOctets, Value: ""},
	{OID: "1.3.6.1.4.1.99999.2.1.0", Type: boards.SNMPTypeInt, Value: "1"},
}

// subtree is device's variables under 1.3.6.1.4.1.99999.1, in OID order.
var subtree = device[3:11]

func newClient(t *testing.T, target discover.SNMPTarget) *discover.SNMPClient {
	t.Helper()
	c, err := discover.NewSNMPClient(target, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("NewSNMPClient: %v", err)
	}
	return c
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// readBack checks Get and Walk of device through c.
func readBack(t *testing.T, c *discover.SNMPClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	got, err := c.Get(ctx, []string{"1.3.6.1.2.1.1.1.0", ".1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.4.1.99999.9"})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want := map[string]boards.SNMPVar{device[0].OID: device[0], device[1].OID: device[1]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get (-want +got), absent OIDs left out:\n%s", diff)
	}

	walked, err := c.Walk(ctx, "1.3.6.1.4.1.99999.1")
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	if diff := cmp.Diff(subtree, walked); diff != "" {
		t.Errorf("Walk(1.3.6.1.4.1.99999.1) (-want +got):\n%s", diff)
	}
}

func TestSNMPClientV2c(t *testing.T) {
	t.Parallel()
	agent := services.StartSNMPD(t, services.SNMPDConfig{Community: "s3cret-ro", Vars: device})
	c := newClient(t, discover.SNMPTarget{Address: agent.Addr, Community: "s3cret-ro", Retries: 1, MaxRepetitions: 3})
	readBack(t, c)

	for _, tt := range []struct {
		name, root string
		want       []boards.SNMPVar
	}{
		{"scalar instance", "1.3.6.1.2.1.1.1.0", device[:1]},
		{"absent", "1.3.6.1.4.1.99999.3", nil},
		{"leading dot", ".1.3.6.1.4.1.99999.2", device[11:]},
		{"beyond the last", "1.3.6.1.4.1.99999.2.1.0", device[11:]},
	} {
		t.Run("walk "+tt.name, func(t *testing.T) {
			got, err := c.Walk(t.Context(), tt.root)
			if err != nil {
				t.Fatalf("Walk(%s): %v", tt.root, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Walk(%s) (-want +got):\n%s", tt.root, diff)
			}
		})
	}
}

func TestSNMPClientV3(t *testing.T) {
	t.Parallel()
	// One agent, a user per combination; the first is the services'
	// own, the others are added as raw snmpd.conf lines.
	agent := services.StartSNMPD(t, services.SNMPDConfig{
		V3: &services.SNMPDUser{Name: "sha256aes", AuthProtocol: "SHA-256", AuthPassphrase: "auth-pass-1", PrivProtocol: "AES", PrivPassphrase: "priv-pass-1"},
		Extra: []string{
			"createUser shaaes SHA auth-pass-2 AES priv-pass-2", "rouser shaaes priv",
			"createUser sha512aes SHA-512 auth-pass-3 AES priv-pass-3", "rouser sha512aes priv",
			"createUser md5auth MD5 auth-pass-4", "rouser md5auth auth",
			"createUser noauth", "rouser noauth noauth",
		},
		Vars: device,
	})
	for _, v3 := range []discover.SNMPv3{
		{User: "sha256aes", AuthProtocol: discover.AuthSHA256, AuthPassphrase: "auth-pass-1", PrivProtocol: discover.PrivAES, PrivPassphrase: "priv-pass-1"},
		{User: "shaaes", AuthProtocol: discover.AuthSHA, AuthPassphrase: "auth-pass-2", PrivProtocol: discover.PrivAES, PrivPassphrase: "priv-pass-2"},
		{User: "sha512aes", AuthProtocol: discover.AuthSHA512, AuthPassphrase: "auth-pass-3", PrivProtocol: discover.PrivAES, PrivPassphrase: "priv-pass-3"},
		{User: "md5auth", AuthProtocol: discover.AuthMD5, AuthPassphrase: "auth-pass-4"},
		{User: "noauth"},
	} {
		t.Run(v3.User, func(t *testing.T) {
			readBack(t, newClient(t, discover.SNMPTarget{Address: agent.Addr, V3: &v3, Retries: 1}))
		})
	}

	for _, tt := range []struct {
		name string
		v3   discover.SNMPv3
	}{
		{"wrong auth passphrase", discover.SNMPv3{User: "sha256aes", AuthProtocol: discover.AuthSHA256, AuthPassphrase: "not-the-pass", PrivProtocol: discover.PrivAES, PrivPassphrase: "priv-pass-1"}},
		{"wrong auth protocol", discover.SNMPv3{User: "sha256aes", AuthProtocol: discover.AuthSHA, AuthPassphrase: "auth-pass-1", PrivProtocol: discover.PrivAES, PrivPassphrase: "priv-pass-1"}},
		{"unknown user", discover.SNMPv3{User: "mallory", AuthProtocol: discover.AuthSHA256, AuthPassphrase: "auth-pass-1"}},
		{"level below the user's", discover.SNMPv3{User: "sha256aes"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, discover.SNMPTarget{Address: agent.Addr, V3: &tt.v3})
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			_, err := c.Get(ctx, []string{"1.3.6.1.2.1.1.1.0"})
			if !errors.Is(err, discover.ErrAuthentication) {
				t.Fatalf("Get = %v, want an error wrapping ErrAuthentication", err)
			}
			for _, secret := range []string{string(tt.v3.AuthPassphrase), "auth-pass-1", "priv-pass-1"} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals a passphrase", err)
				}
			}
		})
	}
}

// An agent ignores a wrong community: the client says so, within its
// deadline.
func TestSNMPClientWrongCommunity(t *testing.T) {
	agent := services.StartSNMPD(t, services.SNMPDConfig{Community: "right-one", Vars: device})
	c := newClient(t, discover.SNMPTarget{Address: agent.Addr, Community: "wrong-one", Retries: 2})
	ctx, cancel := context.WithTimeout(t.Context(), 600*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Get(ctx, []string{"1.3.6.1.2.1.1.1.0"})
	if !errors.Is(err, discover.ErrNoResponse) || !strings.Contains(err.Error(), "community") {
		t.Errorf("Get = %v, want ErrNoResponse naming the community as a cause", err)
	}
	if strings.Contains(err.Error(), "wrong-one") {
		t.Errorf("error %q reveals the community", err)
	}
	if elapsed := time.Since(start); elapsed > 1500*time.Millisecond {
		t.Errorf("Get took %v with a 600ms deadline", elapsed)
	}
}

// silentAgent is a UDP socket that reads requests and never answers.
func silentAgent(t *testing.T) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn.LocalAddr().String()
}

func TestSNMPClientHonoursContext(t *testing.T) {
	c := newClient(t, discover.SNMPTarget{Address: silentAgent(t), Community: "public", Retries: 3})
	for _, tt := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 300*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel without deadline", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(300*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	} {
		for op, call := range map[string]func(context.Context) error{
			"get":  func(ctx context.Context) error { _, err := c.Get(ctx, []string{"1.3.6.1.2.1.1.1.0"}); return err },
			"walk": func(ctx context.Context) error { _, err := c.Walk(ctx, "1.3.6.1.2.1"); return err },
		} {
			t.Run(tt.name+" "+op, func(t *testing.T) {
				ctx, cancel := tt.ctx()
				defer cancel()
				start := time.Now()
				err := call(ctx)
				if !errors.Is(err, tt.want) {
					t.Errorf("%s = %v, want an error wrapping %v", op, err, tt.want)
				}
				if elapsed := time.Since(start); elapsed > time.Second {
					t.Errorf("%s returned after %v, want about 300ms", op, elapsed)
				}
			})
		}
	}
	// Without a deadline, the attempts are bounded: Retries+1 of a few
	// seconds each. Not waited for here; see the unit tests.
}

// fakeAgent answers every SNMPv2c request sent to the returned address
// with the variables and error-status answer gives for the request's first
// OID.
func fakeAgent(t *testing.T, answer func(oid string) ([]gosnmp.SnmpPDU, gosnmp.SNMPError)) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		decoder := &gosnmp.GoSNMP{Version: gosnmp.Version2c}
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			req, err := decoder.SnmpDecodePacket(buf[:n])
			if err != nil || len(req.Variables) == 0 {
				t.Errorf("fake agent: undecodable request: %v", err)
				continue
			}
			vars, status := answer(req.Variables[0].Name)
			resp := &gosnmp.SnmpPacket{
				Version: gosnmp.Version2c, Community: req.Community, PDUType: gosnmp.GetResponse,
				RequestID: req.RequestID, Variables: vars, Error: status,
			}
			if status != gosnmp.NoError {
				resp.ErrorIndex = 1
			}
			b, err := resp.MarshalMsg()
			if err != nil {
				t.Errorf("fake agent: %v", err)
				return
			}
			conn.WriteTo(b, from)
		}
	}()
	return conn.LocalAddr().String()
}

func intPDU(oid string, v int) gosnmp.SnmpPDU {
	return gosnmp.SnmpPDU{Name: oid, Type: gosnmp.Integer, Value: v}
}

// A device whose GETNEXT/GETBULK loops must not hang a walk.
func TestSNMPClientWalkStopsOnLoop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		answer  func(oid string) ([]gosnmp.SnmpPDU, gosnmp.SNMPError)
		want    int // variables returned with the error
		wantErr error
	}{
		{"same OID again", func(string) ([]gosnmp.SnmpPDU, gosnmp.SNMPError) {
			return []gosnmp.SnmpPDU{intPDU(".1.3.6.1.4.1.9.1.1", 1)}, gosnmp.NoError
		}, 1, discover.ErrOIDNotIncreasing},
		{"back to an earlier OID", func(oid string) ([]gosnmp.SnmpPDU, gosnmp.SNMPError) {
			if oid == ".1.3.6.1.4.1.9.1.2" {
				return []gosnmp.SnmpPDU{intPDU(".1.3.6.1.4.1.9.1.1", 1)}, gosnmp.NoError
			}
			return []gosnmp.SnmpPDU{intPDU(".1.3.6.1.4.1.9.1.1", 1), intPDU(".1.3.6.1.4.1.9.1.2", 2)}, gosnmp.NoError
		}, 2, discover.ErrOIDNotIncreasing},
		{"endless increasing OIDs", func(oid string) ([]gosnmp.SnmpPDU, gosnmp.SNMPError) {
			var next int
			fmt.Sscanf(strings.TrimPrefix(oid, ".1.3.6.1.4.1.9.1"), ".%d", &next)
			return []gosnmp.SnmpPDU{intPDU(fmt.Sprintf(".1.3.6.1.4.1.9.1.%d", next+1), next+1)}, gosnmp.NoError
		}, 50, discover.ErrTooManyVars},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, discover.SNMPTarget{Address: fakeAgent(t, tt.answer), Community: "public", MaxVars: 50})
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			got, err := c.Walk(ctx, "1.3.6.1.4.1.9")
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Walk = %v, want an error wrapping %v", err, tt.wantErr)
			}
			if len(got) != tt.want {
				t.Errorf("Walk returned %d variables with its error, want the %d read before it", len(got), tt.want)
			}
		})
	}
}

func TestSNMPClientAgentError(t *testing.T) {
	t.Parallel()
	addr := fakeAgent(t, func(oid string) ([]gosnmp.SnmpPDU, gosnmp.SNMPError) {
		return []gosnmp.SnmpPDU{{Name: oid, Type: gosnmp.Null}}, gosnmp.TooBig
	})
	c := newClient(t, discover.SNMPTarget{Address: addr, Community: "public"})
	_, err := c.Get(t.Context(), []string{"1.3.6.1.2.1.1.1.0"})
	var ae *discover.AgentError
	if !errors.As(err, &ae) || *ae != (discover.AgentError{Status: "tooBig", Index: 1}) {
		t.Errorf("Get = %v, want an *AgentError tooBig at variable 1", err)
	}
	if _, err := c.Walk(t.Context(), "1.3.6.1.2.1"); !errors.As(err, &ae) {
		t.Errorf("Walk = %v, want an *AgentError", err)
	}
}

func TestSecretsRedacted(t *testing.T) {
	target := discover.SNMPTarget{
		Address:   "192.0.2.1",
		Community: "community-secret",
		V3:        &discover.SNMPv3{User: "u", AuthProtocol: discover.AuthSHA, AuthPassphrase: "auth-secret", PrivProtocol: discover.PrivAES, PrivPassphrase: "priv-secret"},
	}
	var out bytes.Buffer
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		fmt.Fprintf(&out, format+"\n", target.Community)
		fmt.Fprintf(&out, format+"\n", *target.V3)
		fmt.Fprintf(&out, format+"\n", target.V3.PrivPassphrase)
	}
	log := slog.New(slog.NewJSONHandler(&out, nil))
	log.Info("target", "target", target, "community", target.Community, "v3", target.V3)
	slog.New(slog.NewTextHandler(&out, nil)).Info("target", "pass", target.V3.AuthPassphrase, "v3", *target.V3)
	b, err := json.Marshal(target)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(b)
	for _, secret := range []string{"community-secret", "auth-secret", "priv-secret", hexOf("community-secret"), hexOf("priv-secret")} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("secret %q printed:\n%s", secret, out.String())
		}
	}
	if !strings.Contains(out.String(), "[redacted]") {
		t.Errorf("no [redacted] in:\n%s", out.String())
	}

	// Reading a configuration still yields the secret.
	var back discover.SNMPTarget
	if err := json.Unmarshal([]byte(`{"Address":"a","Community":"c0mm","V3":{"User":"u","AuthPassphrase":"p4ssphrase"}}`), &back); err != nil {
		t.Fatal(err)
	}
	if string(back.Community) != "c0mm" || string(back.V3.AuthPassphrase) != "p4ssphrase" {
		t.Errorf("decoded community %q, passphrase %q; want the secrets", string(back.Community), string(back.V3.AuthPassphrase))
	}
}

func hexOf(s string) string { return fmt.Sprintf("%x", s) }

func TestSNMPTargetValidate(t *testing.T) {
	good := discover.SNMPv3{User: "u", AuthProtocol: discover.AuthSHA256, AuthPassphrase: "12345678", PrivProtocol: discover.PrivAES, PrivPassphrase: "12345678"}
	tests := []struct {
		name   string
		target discover.SNMPTarget
		want   []string // substrings of the error; none means valid
	}{
		{"v2c", discover.SNMPTarget{Address: "192.0.2.1", Community: "public"}, nil},
		{"v2c with port", discover.SNMPTarget{Address: "switch-1.example:1161", Community: "public"}, nil},
		{"bare IPv6", discover.SNMPTarget{Address: "2001:db8::1", Community: "public"}, nil},
		{"IPv6 with port", discover.SNMPTarget{Address: "[2001:db8::1]:161", Community: "public"}, nil},
		{"v3", discover.SNMPTarget{Address: "192.0.2.1", V3: &good}, nil},
		{"no address", discover.SNMPTarget{Community: "public"}, []string{"address is empty"}},
		{"bad port", discover.SNMPTarget{Address: "192.0.2.1:0", Community: "public"}, []string{"port from 1 to 65535"}},
		{"no credentials", discover.SNMPTarget{Address: "192.0.2.1"}, []string{"no credentials"}},
		{"retries", discover.SNMPTarget{Address: "192.0.2.1", Community: "c", Retries: 11}, []string{"retries 11"}},
		{"everything wrong in v3", discover.SNMPTarget{Address: "192.0.2.1", V3: &discover.SNMPv3{
			AuthProtocol: "SHA1", AuthPassphrase: "short", PrivProtocol: "3DES", PrivPassphrase: "short",
		}}, []string{"user is empty", `auth protocol "SHA1"`, "auth passphrase", `priv protocol "3DES"`, "priv passphrase"}},
		{"privacy without auth", discover.SNMPTarget{Address: "192.0.2.1", V3: &discover.SNMPv3{
			User: "u", PrivProtocol: discover.PrivAES, PrivPassphrase: "12345678",
		}}, []string{"privacy needs authentication"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.target.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				if _, err := discover.NewSNMPClient(tt.target, nil); err != nil {
					t.Errorf("NewSNMPClient: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors about %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
			if _, err := discover.NewSNMPClient(tt.target, nil); err == nil {
				t.Errorf("NewSNMPClient accepted an invalid target")
			}
		})
	}
}

func TestGetRejectsBadOID(t *testing.T) {
	c := newClient(t, discover.SNMPTarget{Address: silentAgent(t), Community: "public"})
	if _, err := c.Get(t.Context(), []string{"1.3.6.1.x"}); err == nil || !strings.Contains(err.Error(), `"1.3.6.1.x"`) {
		t.Errorf("Get(bad OID) = %v, want an error naming it", err)
	}
	if _, err := c.Walk(t.Context(), ""); err == nil {
		t.Errorf("Walk(\"\") = nil error, want one")
	}
	got, err := c.Get(t.Context(), nil)
	if err != nil || len(got) != 0 {
		t.Errorf("Get(no OIDs) = %v, %v; want an empty map without asking the agent", got, err)
	}
}

package services

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gosnmp/gosnmp"

	"patchbay.dev/boards"
)

// recorded is a small device recording with every type StartSNMPD serves.
var recorded = []boards.SNMPVar{
	{OID: "1.3.6.1.2.1.1.1.0", Type: boards.SNMPTypeOctets, Value: "OpenWrt 23.05.3 r23809-234f1a2efa ath79/generic"},
	{OID: "1.3.6.1.2.1.1.2.0", Type: boards.SNMPTypeOID, Value: "1.3.6.1.4.1.8072.3.2.10"},
	{OID: "1.3.6.1.2.1.1.3.0", Type: boards.SNMPTypeTimeTicks, Value: "123456"},
	{OID: "1.3.6.1.4.1.99999.1.10.0", Type: boards.SNMPTypeOctets, Value: "line 1\nline 2\x00\xff"},
	{OID: "1.3.6.1.4.1.99999.1.2.0", Type: boards.SNMPTypeInt, Value: "-7"},
	{OID: "1.3.6.1.4.1.99999.1.3.0", Type: boards.SNMPTypeUint, Value: "4294967295"},
	{OID: "1.3.6.1.4.1.99999.1.4.0", Type: boards.SNMPTypeCounter64, Value: "18446744073709551615"},
	{OID: "1.3.6.1.4.1.99999.1.5.0", Type: boards.SNMPTypeIPAddress, Value: "192.0.2.1"},
	{OID: "1.3.6.1.4.1.99999.1.6.0", Type: boards.SNMPTypeOctets, Value: ""},
	{OID: "1.3.6.1.4.1.99999.1.7.0", Type: boards.SNMPTypeOpaque, Value: "\x01\x02\xfe"},
}

// snmpClient is a gosnmp session with s, closed when the test ends.
func snmpClient(t *testing.T, s *SNMPD, v3 *SNMPDUser) *gosnmp.GoSNMP {
	t.Helper()
	g := &gosnmp.GoSNMP{
		Target: s.Host, Port: s.Port, Transport: "udp", Community: s.Community,
		Version: gosnmp.Version2c, Timeout: 2 * time.Second, Retries: 1,
		MaxOids: gosnmp.MaxOids, MaxRepetitions: 10, Context: t.Context(),
	}
	if v3 != nil {
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		g.MsgFlags, g.SecurityParameters = usmParameters(v3)
	}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Conn.Close() })
	return g
}

// pduText renders what gosnmp decoded in the recording's terms.
func pduText(pdu gosnmp.SnmpPDU) boards.SNMPVar {
	v := boards.SNMPVar{OID: strings.TrimPrefix(pdu.Name, ".")}
	switch pdu.Type {
	case gosnmp.OctetString:
		v.Type, v.Value = boards.SNMPTypeOctets, string(pdu.Value.([]byte))
	case gosnmp.Opaque:
		v.Type, v.Value = boards.SNMPTypeOpaque, string(pdu.Value.([]byte))
	case gosnmp.ObjectIdentifier:
		v.Type, v.Value = boards.SNMPTypeOID, strings.TrimPrefix(pdu.Value.(string), ".")
	case gosnmp.Integer:
		v.Type, v.Value = boards.SNMPTypeInt, gosnmp.ToBigInt(pdu.Value).String()
	case gosnmp.Gauge32, gosnmp.Counter32, gosnmp.Uinteger32:
		v.Type, v.Value = boards.SNMPTypeUint, gosnmp.ToBigInt(pdu.Value).String()
	case gosnmp.Counter64:
		v.Type, v.Value = boards.SNMPTypeCounter64, gosnmp.ToBigInt(pdu.Value).String()
	case gosnmp.TimeTicks:
		v.Type, v.Value = boards.SNMPTypeTimeTicks, gosnmp.ToBigInt(pdu.Value).String()
	case gosnmp.IPAddress:
		v.Type, v.Value = boards.SNMPTypeIPAddress, pdu.Value.(string)
	default:
		v.Type = pdu.Type.String()
	}
	return v
}

func TestSNMPDServesRecording(t *testing.T) {
	t.Parallel()
	user := &SNMPDUser{Name: "patchbay", AuthProtocol: "SHA-256", AuthPassphrase: "auth-secret-1", PrivProtocol: "AES", PrivPassphrase: "priv-secret-1"}
	s := StartSNMPD(t, SNMPDConfig{Community: "c0mmunity", V3: user, Vars: recorded})

	t.Run("v2c walk", func(t *testing.T) {
		pdus, err := snmpClient(t, s, nil).BulkWalkAll("1.3.6.1")
		if err != nil {
			t.Fatalf("walk: %v\nsnmpd log:\n%s", err, s.Log())
		}
		var got []boards.SNMPVar
		for _, pdu := range pdus {
			if !strings.HasPrefix(pdu.Name, ".1.3.6.1.6.3.") { // the agent's own SNMPv3 tables
				got = append(got, pduText(pdu))
			}
		}
		// Served in OID order: .1.10.0 after .1.7.0.
		want := append(append([]boards.SNMPVar(nil), recorded[:3]...), recorded[4:]...)
		want = append(want, recorded[3])
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("walk (-want +got):\n%s", diff)
		}
	})
	t.Run("v3 get", func(t *testing.T) {
		pkt, err := snmpClient(t, s, user).Get([]string{"1.3.6.1.2.1.1.1.0", "1.3.6.1.4.1.99999.1.1.0"})
		if err != nil {
			t.Fatalf("get: %v\nsnmpd log:\n%s", err, s.Log())
		}
		if got := pduText(pkt.Variables[0]); got != recorded[0] {
			t.Errorf("sysDescr = %+v, want %+v", got, recorded[0])
		}
		if typ := pkt.Variables[1].Type; typ != gosnmp.NoSuchInstance && typ != gosnmp.NoSuchObject {
			t.Errorf("absent OID has type %v, want noSuchInstance or noSuchObject", typ)
		}
	})
}

// Without Vars, snmpd serves its own MIB.
func TestSNMPDOwnMIB(t *testing.T) {
	t.Parallel()
	s := StartSNMPD(t, SNMPDConfig{})
	if s.Community != "public" {
		t.Errorf("Community = %q, want the default \"public\"", s.Community)
	}
	pkt, err := snmpClient(t, s, nil).Get([]string{"1.3.6.1.2.1.1.1.0"})
	if err != nil {
		t.Fatalf("get sysDescr: %v", err)
	}
	if v := pduText(pkt.Variables[0]); v.Type != boards.SNMPTypeOctets || !strings.Contains(v.Value, "Linux") {
		t.Errorf("sysDescr = %+v, want this machine's (Linux …)", v)
	}
}

func TestSNMPDStop(t *testing.T) {
	t.Parallel()
	s := StartSNMPD(t, SNMPDConfig{Vars: recorded[:1]})
	s.Stop()
	g := snmpClient(t, s, nil)
	g.Timeout, g.Retries = 200*time.Millisecond, 0
	if _, err := g.Get([]string{"1.3.6.1.2.1.1.1.0"}); err == nil {
		t.Errorf("a stopped snmpd answered")
	}
}

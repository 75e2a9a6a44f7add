package discover

import (
	"log/slog"
	"testing"

	"github.com/gosnmp/gosnmp"

	"patchbay.dev/boards"
)

// Values as gosnmp decodes them, and their boards.SNMPVar text.
func TestSNMPVar(t *testing.T) {
	tests := []struct {
		name string
		pdu  gosnmp.SnmpPDU
		want boards.SNMPVar
		ok   bool
	}{
		{"octets are bytes", gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.1.1.0", Type: gosnmp.OctetString, Value: []byte("RouterOS\x00\xff")},
			boards.SNMPVar{OID: "1.3.6.1.2.1.1.1.0", Type: "octets", Value: "RouterOS\x00\xff"}, true},
		{"OID without leading dot", gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.1.2.0", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.14988.1"},
			boards.SNMPVar{OID: "1.3.6.1.2.1.1.2.0", Type: "oid", Value: "1.3.6.1.4.1.14988.1"}, true},
		{"negative integer", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.Integer, Value: -5},
			boards.SNMPVar{OID: "1.3", Type: "int", Value: "-5"}, true},
		{"Counter32", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.Counter32, Value: uint(4294967295)},
			boards.SNMPVar{OID: "1.3", Type: "uint", Value: "4294967295"}, true},
		{"Gauge32", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.Gauge32, Value: uint(7)},
			boards.SNMPVar{OID: "1.3", Type: "uint", Value: "7"}, true},
		{"Unsigned32", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.Uinteger32, Value: uint32(8)},
			boards.SNMPVar{OID: "1.3", Type: "uint", Value: "8"}, true},
		{"Counter64", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.Counter64, Value: uint64(18446744073709551615)},
			boards.SNMPVar{OID: "1.3", Type: "counter64", Value: "18446744073709551615"}, true},
		{"TimeTicks", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.TimeTicks, Value: uint32(8640000)},
			boards.SNMPVar{OID: "1.3", Type: "timeticks", Value: "8640000"}, true},
		{"IpAddress", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.IPAddress, Value: "10.0.0.1"},
			boards.SNMPVar{OID: "1.3", Type: "ipaddress", Value: "10.0.0.1"}, true},
		{"Opaque", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.Opaque, Value: []byte{1, 2}},
			boards.SNMPVar{OID: "1.3", Type: "opaque", Value: "\x01\x02"}, true},
		{"NULL", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.Null},
			boards.SNMPVar{OID: "1.3", Type: "null"}, true},
		{"noSuchObject is absent", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.NoSuchObject}, boards.SNMPVar{OID: "1.3"}, false},
		{"noSuchInstance is absent", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.NoSuchInstance}, boards.SNMPVar{OID: "1.3"}, false},
		{"endOfMibView is absent", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.EndOfMibView}, boards.SNMPVar{OID: "1.3"}, false},
		{"Opaque float has no boards type", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.OpaqueFloat, Value: float32(1.5)}, boards.SNMPVar{OID: "1.3"}, false},
		{"octets of the wrong Go type", gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.OctetString, Value: 5},
			boards.SNMPVar{OID: "1.3", Type: "octets"}, false},
	}
	c := &SNMPClient{log: slog.New(slog.DiscardHandler)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.snmpVar(tt.pdu)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("snmpVar(%+v) = %+v, %t; want %+v, %t", tt.pdu, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestOIDs(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"1.3.6.1", "1.3.6.1", true},
		{".1.3.6.1.4.1.4294967295", "1.3.6.1.4.1.4294967295", true},
		{"", "", false},
		{".", "", false},
		{"1..3", "", false},
		{"1.3.", "", false},
		{"1.3.4294967296", "", false},
		{"1.-3", "", false},
		{"1.3 ", "", false},
	} {
		arcs, err := parseOID(tt.in)
		if (err == nil) != tt.ok || (err == nil && formatOID(arcs) != tt.want) {
			t.Errorf("parseOID(%q) = %v, %v; want %q, ok %t", tt.in, arcs, err, tt.want, tt.ok)
		}
	}
	if !hasPrefix([]uint32{1, 3, 6}, []uint32{1, 3}) || hasPrefix([]uint32{1, 3}, []uint32{1, 3}) || hasPrefix([]uint32{1, 4, 6}, []uint32{1, 3}) {
		t.Errorf("hasPrefix: the subtree is the root's descendants, root excluded")
	}
}

func TestSNMPErrorName(t *testing.T) {
	for e, want := range map[gosnmp.SNMPError]string{
		gosnmp.TooBig: "tooBig", gosnmp.GenErr: "genErr", gosnmp.NoAccess: "noAccess", gosnmp.SNMPError(99): "error-status 99",
	} {
		if got := snmpErrorName(e); got != want {
			t.Errorf("snmpErrorName(%d) = %q, want %q", e, got, want)
		}
	}
}

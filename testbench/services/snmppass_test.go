package services

import (
	"strings"
	"testing"

	"patchbay.dev/boards"
)

// The pass_persist exchanges snmpd has with its helper (snmpd.conf(5)).
func TestServePassPersist(t *testing.T) {
	vars := []boards.SNMPVar{
		{OID: "1.3.6.1.4.1.9.1.10", Type: boards.SNMPTypeInt, Value: "10"},
		{OID: ".1.3.6.1.4.1.9.1.9", Type: boards.SNMPTypeOctets, Value: "a\nb"},
		{OID: "1.3.6.1.4.1.9.2", Type: boards.SNMPTypeIPAddress, Value: "10.0.0.1"},
	}
	tests := []struct {
		name, in, want string
	}{
		{"ping", "PING\n", "PONG\n"},
		{"get", "get\n.1.3.6.1.4.1.9.1.10\n", ".1.3.6.1.4.1.9.1.10\ninteger\n10\n"},
		{"get absent", "get\n.1.3.6.1.4.1.9.1\n", "NONE\n"},
		{"get octets as hex", "get\n.1.3.6.1.4.1.9.1.9\n", ".1.3.6.1.4.1.9.1.9\noctet\n61 0a 62\n"},
		{"getnext before all", "getnext\n.1.3.6.1\n", ".1.3.6.1.4.1.9.1.9\noctet\n61 0a 62\n"},
		{"getnext numeric order", "getnext\n.1.3.6.1.4.1.9.1.9\n", ".1.3.6.1.4.1.9.1.10\ninteger\n10\n"},
		{"getnext between", "getnext\n.1.3.6.1.4.1.9.1.10.5\n", ".1.3.6.1.4.1.9.2\nipaddress\n10.0.0.1\n"},
		{"getnext past the end", "getnext\n.1.3.6.1.4.1.9.2\n", "NONE\n"},
		{"getnext bad OID", "getnext\n.1.3.x\n", "NONE\n"},
		{"set", "set\n.1.3.6.1.4.1.9.2\nipaddress 10.0.0.2\n", "not-writable\n"},
		{"session", "PING\nget\n.1.3.6.1.4.1.9.2\n\nPING\n", "PONG\n.1.3.6.1.4.1.9.2\nipaddress\n10.0.0.1\nPONG\n"},
		{"unknown command", "walk\n", "NONE\n"},
		{"truncated", "get\n", ""},
	}
	pv, err := passVars(vars)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			if err := servePassPersist(strings.NewReader(tt.in), &out, pv); err != nil {
				t.Fatalf("servePassPersist: %v", err)
			}
			if out.String() != tt.want {
				t.Errorf("servePassPersist(%q) wrote %q, want %q", tt.in, out.String(), tt.want)
			}
		})
	}
}

func TestPassVarsRejects(t *testing.T) {
	tests := []struct {
		name string
		v    boards.SNMPVar
		want string
	}{
		{"bad OID", boards.SNMPVar{OID: "1.3.six", Type: boards.SNMPTypeInt, Value: "1"}, "arc 3"},
		{"int range", boards.SNMPVar{OID: "1.3", Type: boards.SNMPTypeInt, Value: "2147483648"}, "out of range"},
		{"uint negative", boards.SNMPVar{OID: "1.3", Type: boards.SNMPTypeUint, Value: "-1"}, "invalid syntax"},
		{"IPv6", boards.SNMPVar{OID: "1.3", Type: boards.SNMPTypeIPAddress, Value: "::1"}, "not an IPv4"},
		{"null", boards.SNMPVar{OID: "1.3", Type: boards.SNMPTypeNull}, "NULL"},
		{"unknown type", boards.SNMPVar{OID: "1.3", Type: "float", Value: "1"}, `type "float"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := passVars([]boards.SNMPVar{tt.v})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("passVars(%+v) = %v, want an error containing %q", tt.v, err, tt.want)
			}
		})
	}
	dup := []boards.SNMPVar{{OID: "1.3", Type: "int", Value: "1"}, {OID: ".1.3", Type: "int", Value: "2"}}
	if _, err := passVars(dup); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("passVars(duplicate) = %v, want an error about the duplicate", err)
	}
}

package boards

import "context"

// SNMPVar is one variable read from a device over SNMP, rendered as text:
// OCTET STRINGs as their bytes (not hex), OBJECT IDENTIFIERs dotted without
// a leading dot, numbers in decimal. OID has no leading dot.
type SNMPVar struct {
	OID   string
	Type  string // "octets", "oid", "int", "uint", "counter64", "ipaddress", "timeticks"
	Value string
}

// SNMPReader reads a device's MIB. The agent's discovery implements it over
// the network with gosnmp; tests implement it over recordings.
type SNMPReader interface {
	// Get returns the variables that exist among oids, keyed by OID
	// without a leading dot; absent OIDs (noSuchObject, noSuchInstance)
	// are simply missing from the map.
	Get(ctx context.Context, oids []string) (map[string]SNMPVar, error)
	// Walk returns the variables under root in OID order.
	Walk(ctx context.Context, root string) ([]SNMPVar, error)
}

// The values of SNMPVar.Type. Counter32, Gauge32 and Unsigned32 are all
// "uint"; "null" and "opaque" are rare (NULL and Opaque values).
const (
	SNMPTypeOctets    = "octets"
	SNMPTypeOID       = "oid"
	SNMPTypeInt       = "int"
	SNMPTypeUint      = "uint"
	SNMPTypeCounter64 = "counter64"
	SNMPTypeIPAddress = "ipaddress"
	SNMPTypeTimeTicks = "timeticks"
	SNMPTypeNull      = "null"
	SNMPTypeOpaque    = "opaque"
)

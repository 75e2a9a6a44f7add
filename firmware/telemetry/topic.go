package telemetry

import (
	"fmt"
	"regexp"
	"strings"
)

// Kind is the last level of a device topic.
type Kind string

// The topic kinds of DESIGN.md.
const (
	KindStatus  Kind = "status"  // retained; "online", or "offline" as last will
	KindState   Kind = "state"   // retained; the full State document
	KindEvents  Kind = "events"  // QoS 1; Event documents with device sequence numbers
	KindDesired Kind = "desired" // retained; from the gateway
	KindCmd     Kind = "cmd"     // QoS 1; from the gateway, never retained
	KindAck     Kind = "ack"     // retained; from the gateway: highest stored sequence
)

// Status payloads.
const (
	Online  = "online"
	Offline = "offline"
)

// Prefix is the root of every v1 topic.
const Prefix = "pb/v1"

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidID reports whether s may be a tenant or device id: 1–128 letters,
// digits, '.', '_' or '-', never an MQTT wildcard or separator.
func ValidID(s string) bool { return idRE.MatchString(s) }

// Topic returns pb/v1/{tenant}/{device}/{kind}.
func Topic(tenant, device string, kind Kind) string {
	return Prefix + "/" + tenant + "/" + device + "/" + string(kind)
}

// Filter returns the subscription filter for kind from every device of
// every tenant, shared among the gateways in group when group is not empty.
func Filter(group string, kind Kind) string {
	f := Prefix + "/+/+/" + string(kind)
	if group != "" {
		f = "$share/" + group + "/" + f
	}
	return f
}

// DeviceTopic is a parsed device topic.
type DeviceTopic struct {
	Tenant, Device string
	Kind           Kind
}

// ParseTopic splits a device topic, rejecting anything that is not one.
func ParseTopic(topic string) (DeviceTopic, error) {
	parts := strings.Split(topic, "/")
	if len(parts) != 5 || parts[0]+"/"+parts[1] != Prefix {
		return DeviceTopic{}, fmt.Errorf("topic %q: want %s/{tenant}/{device}/{kind}", topic, Prefix)
	}
	t := DeviceTopic{Tenant: parts[2], Device: parts[3], Kind: Kind(parts[4])}
	if !ValidID(t.Tenant) || !ValidID(t.Device) {
		return DeviceTopic{}, fmt.Errorf("topic %q: tenant and device must be ids of letters, digits, '.', '_' or '-'", topic)
	}
	switch t.Kind {
	case KindStatus, KindState, KindEvents, KindDesired, KindCmd, KindAck:
		return t, nil
	}
	return DeviceTopic{}, fmt.Errorf("topic %q: unknown kind %q", topic, t.Kind)
}

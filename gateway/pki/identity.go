package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"patchbay.dev/firmware/telemetry"
)

// ErrIdentity is wrapped by errors for a certificate or name that does not
// name a device or service. It is permanent.
var ErrIdentity = errors.New("not a patchbay identity")

// DefaultService is the identity of the gateway's own client certificate.
const DefaultService = "patchbay-gateway"

// DeviceWrites are the topic kinds a device may publish on, its own only.
var DeviceWrites = []telemetry.Kind{telemetry.KindStatus, telemetry.KindState, telemetry.KindEvents}

// DeviceReads are the topic kinds a device may subscribe to, its own only.
var DeviceReads = []telemetry.Kind{telemetry.KindDesired, telemetry.KindCmd, telemetry.KindAck}

// Identity is who a client is: a device of a tenant, or a service.
// Exactly one of Device (with Tenant) or Service is set.
type Identity struct {
	Tenant  string `json:"tenant,omitempty"`
	Device  string `json:"device,omitempty"`
	Service string `json:"service,omitempty"`
}

// DeviceIdentity returns the identity of a device, checking both IDs.
func DeviceIdentity(tenant, device string) (Identity, error) {
	if !telemetry.ValidID(tenant) || !telemetry.ValidID(device) {
		return Identity{}, fmt.Errorf("device %q of tenant %q: %w (tenant and device must be 1-128 letters, digits, '.', '_' or '-')", device, tenant, ErrIdentity)
	}
	return Identity{Tenant: tenant, Device: device}, nil
}

// ServiceIdentity returns the identity of a service, checking its name.
func ServiceIdentity(name string) (Identity, error) {
	if !telemetry.ValidID(name) {
		return Identity{}, fmt.Errorf("service %q: %w (a service name is 1-128 letters, digits, '.', '_' or '-')", name, ErrIdentity)
	}
	return Identity{Service: name}, nil
}

// ParseIdentity reads the form String writes: "tenant/device" for a
// device, "name" for a service.
func ParseIdentity(s string) (Identity, error) {
	tenant, device, ok := strings.Cut(s, "/")
	if !ok {
		return ServiceIdentity(s)
	}
	return DeviceIdentity(tenant, device)
}

// IdentityOf returns the identity a (verified) client certificate names.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	id, err := ParseIdentity(cert.Subject.CommonName)
	if err != nil {
		return Identity{}, fmt.Errorf("certificate %q (serial %x): %w", cert.Subject.CommonName, cert.SerialNumber, err)
	}
	if id.IsDevice() && len(cert.Subject.Organization) > 0 && !slices.Equal(cert.Subject.Organization, []string{id.Tenant}) {
		return Identity{}, fmt.Errorf("certificate %q (serial %x): organization %q is not the tenant %q: %w",
			cert.Subject.CommonName, cert.SerialNumber, cert.Subject.Organization, id.Tenant, ErrIdentity)
	}
	return id, nil
}

// Check returns an error wrapping ErrIdentity unless id names exactly one
// device or service with valid IDs.
func (id Identity) Check() error {
	switch {
	case id.IsDevice() && id.Service != "":
		return fmt.Errorf("identity names both device %s/%s and service %s: %w", id.Tenant, id.Device, id.Service, ErrIdentity)
	case id.IsDevice():
		_, err := DeviceIdentity(id.Tenant, id.Device)
		return err
	default:
		_, err := ServiceIdentity(id.Service)
		return err
	}
}

// IsDevice reports whether id names a device.
func (id Identity) IsDevice() bool { return id.Device != "" }

// String returns "tenant/device" or the service name: a certificate's
// Common Name, and the MQTT username and client ID of a device.
func (id Identity) String() string {
	if id.IsDevice() {
		return id.Tenant + "/" + id.Device
	}
	return id.Service
}

// MayPublish reports whether a device may publish on topic: one of its own
// DeviceWrites topics. It says nothing about services; the broker decides
// which services it trusts.
func (id Identity) MayPublish(topic string) bool {
	return id.IsDevice() && id.ownTopic(topic, DeviceWrites)
}

// MayReceive reports whether a device may subscribe to filter, or receive a
// message on the topic filter: one of its own DeviceReads topics, exactly.
// Wildcards and shared subscriptions are refused.
func (id Identity) MayReceive(filter string) bool {
	return id.IsDevice() && id.ownTopic(filter, DeviceReads)
}

func (id Identity) ownTopic(topic string, kinds []telemetry.Kind) bool {
	t, err := telemetry.ParseTopic(topic)
	if err != nil {
		return false
	}
	return t.Tenant == id.Tenant && t.Device == id.Device && slices.Contains(kinds, t.Kind)
}

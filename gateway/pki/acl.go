package pki

import (
	"bytes"
	"fmt"
	"slices"

	"patchbay.dev/firmware/telemetry"
)

// MosquittoConf is what the listener of a mosquitto broker needs beside
// its certificate files for MosquittoACL to confine devices: the client
// certificate's CN becomes the username that the ACL's %u stands for, and
// the client ID, so that no client can take over a device's session.
const MosquittoConf = `require_certificate true
use_identity_as_username true
use_username_as_clientid true
`

// MosquittoACL returns a mosquitto acl_file that lets each device publish
// and subscribe to its own topics only (pattern lines on %u, the
// certificate CN "tenant/device") and the named services (DefaultService
// when none) use every device's topics.
func MosquittoACL(services []string) ([]byte, error) {
	if len(services) == 0 {
		services = []string{DefaultService}
	}
	var b bytes.Buffer
	b.WriteString("# Patchbay ACL for mosquitto, written by patchbay-gateway pki acl.\n")
	b.WriteString("# The TLS listener in mosquitto.conf needs:\n")
	for _, l := range bytes.Split(bytes.TrimSpace([]byte(MosquittoConf)), []byte("\n")) {
		fmt.Fprintf(&b, "#   %s\n", l)
	}
	b.WriteString("# so that %u is the certificate's CN, \"{tenant}/{device}\" for devices.\n\n")
	b.WriteString("# Devices: their own topics, nothing else.\n")
	for _, k := range DeviceWrites {
		fmt.Fprintf(&b, "pattern write %s/%%u/%s\n", telemetry.Prefix, k)
	}
	for _, k := range DeviceReads {
		fmt.Fprintf(&b, "pattern read %s/%%u/%s\n", telemetry.Prefix, k)
	}
	for _, s := range slices.Compact(slices.Sorted(slices.Values(services))) {
		if _, err := ServiceIdentity(s); err != nil {
			return nil, fmt.Errorf("mosquitto ACL: %w", err)
		}
		fmt.Fprintf(&b, "\n# Service %s: every device's topics.\nuser %s\n", s, s)
		for _, k := range DeviceWrites {
			fmt.Fprintf(&b, "topic read %s\n", telemetry.Topic("+", "+", k))
		}
		for _, k := range DeviceReads {
			fmt.Fprintf(&b, "topic readwrite %s\n", telemetry.Topic("+", "+", k))
		}
	}
	return b.Bytes(), nil
}

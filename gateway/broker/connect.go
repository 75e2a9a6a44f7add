package broker

import (
	"bufio"
	"errors"
	"fmt"
)

// MQTT protocol levels in a CONNECT packet.
const (
	levelMQTT31  = 3 // protocol name "MQIsdp"
	levelMQTT311 = 4 // protocol name "MQTT"
	levelMQTT5   = 5 // protocol name "MQTT"
)

// errNotConnect reports a connection whose first bytes are not an MQTT
// CONNECT packet.
var errNotConnect = errors.New("first packet is not an MQTT CONNECT")

// connackRefusedVersion is an MQTT 3.1.1 CONNACK with return code 1,
// "unacceptable protocol version" (MQTT 3.1.1 §3.2.2.3). MQTT 5 clients
// read it too (MQTT 5 §3.1.2.2 allows a server to answer so).
var connackRefusedVersion = []byte{0x20, 0x02, 0x00, 0x01}

// peekConnect returns the protocol level of the CONNECT packet at the head
// of r without consuming anything, so that the broker still reads the
// whole packet. It reads at most 5+2+6+1 bytes.
func peekConnect(r *bufio.Reader) (level byte, err error) {
	b, err := r.Peek(1)
	if err != nil {
		return 0, fmt.Errorf("read CONNECT: %w", err)
	}
	if b[0] != 0x10 { // packet type 1, flags 0 [MQTT-2.2.2-2]
		return 0, fmt.Errorf("%w: fixed header byte %#02x", errNotConnect, b[0])
	}
	// Remaining length: 1 to 4 bytes, 7 bits each, high bit = more.
	remaining, n := 0, 1
	for shift := 0; ; shift += 7 {
		if n > 4 {
			return 0, fmt.Errorf("%w: remaining length longer than 4 bytes", errNotConnect)
		}
		b, err := r.Peek(n + 1)
		if err != nil {
			return 0, fmt.Errorf("read CONNECT: %w", err)
		}
		remaining |= int(b[n]&0x7f) << shift
		n++
		if b[n-1]&0x80 == 0 {
			break
		}
	}
	// Variable header: protocol name (length-prefixed), then the level.
	b, err = r.Peek(n + 2)
	if err != nil {
		return 0, fmt.Errorf("read CONNECT: %w", err)
	}
	nameLen := int(b[n])<<8 | int(b[n+1])
	if nameLen != 4 && nameLen != 6 {
		return 0, fmt.Errorf("%w: protocol name of %d bytes", errNotConnect, nameLen)
	}
	if remaining < 2+nameLen+1 {
		return 0, fmt.Errorf("%w: remaining length %d too short for a variable header", errNotConnect, remaining)
	}
	b, err = r.Peek(n + 2 + nameLen + 1)
	if err != nil {
		return 0, fmt.Errorf("read CONNECT: %w", err)
	}
	name, level := string(b[n+2:n+2+nameLen]), b[n+2+nameLen]
	switch {
	case name == "MQTT" && (level == levelMQTT311 || level == levelMQTT5):
	case name == "MQIsdp" && level == levelMQTT31:
	case name == "MQTT" || name == "MQIsdp":
		// A known name with another level: refuse it by version, as the
		// client may understand that answer.
	default:
		return 0, fmt.Errorf("%w: protocol name %q", errNotConnect, name)
	}
	return level, nil
}

// supportedLevel reports whether the broker accepts a protocol level.
func supportedLevel(level byte) bool {
	return level == levelMQTT31 || level == levelMQTT311
}

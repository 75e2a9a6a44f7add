package broker

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// CONNECT packets, annotated. Each is a whole packet; connectTable's cases
// also cut them short.
var (
	// MQTT 3.1.1, clean session, keepalive 30, client ID "c", no username.
	connect311 = []byte{
		0x10, 13, // CONNECT, remaining length
		0, 4, 'M', 'Q', 'T', 'T', // protocol name
		4,     // level 4: MQTT 3.1.1
		0x02,  // flags: clean session
		0, 30, // keepalive
		0, 1, 'c', // client ID
	}
	// MQTT 3.1: protocol name "MQIsdp", level 3.
	connect31 = []byte{
		0x10, 15,
		0, 6, 'M', 'Q', 'I', 's', 'd', 'p',
		3,
		0x02,
		0, 30,
		0, 1, 'c',
	}
	// MQTT 5: level 5, a property length of 0 before the payload, and a
	// username the insecure development mode admits.
	connect5 = []byte{
		0x10, 26,
		0, 4, 'M', 'Q', 'T', 'T',
		5,
		0x82, // flags: username, clean start
		0, 30,
		0, // properties: none
		0, 1, 'c',
		0, 10, 'a', 'c', 'm', 'e', '/', 'r', 't', 'r', '-', '1',
	}
	// A SUBSCRIBE where a CONNECT should be.
	subscribeFirst = []byte{0x82, 8, 0, 1, 0, 3, 'a', '/', 'b', 1}
	// Remaining length with a fifth continuation byte.
	longLength = []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x01}
	// A protocol name no MQTT version uses.
	badName = []byte{0x10, 13, 0, 4, 'H', 'T', 'T', 'P', 4, 0x02, 0, 30, 0, 1, 'c'}
	// A protocol name of 5 bytes.
	badNameLen = []byte{0x10, 14, 0, 5, 'M', 'Q', 'T', 'T', 'X', 4, 0x02, 0, 30, 0, 1, 'c'}
	// Remaining length 3 cannot hold a protocol name and level.
	shortRemaining = []byte{0x10, 3, 0, 4, 'M', 'Q', 'T', 'T', 4}
	// "MQTT" with level 6: refused by version, not as garbage.
	level6 = []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 6, 0x02, 0, 30, 0, 1, 'c'}
	// "MQIsdp" with level 0 (found by FuzzPeekConnect): refused by version.
	level0 = []byte{0x10, 0x30, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 0}
	// A two-byte remaining length (200 = 0xc8 0x01).
	twoByteLength = append([]byte{0x10, 0xc8, 0x01, 0, 4, 'M', 'Q', 'T', 'T', 4}, make([]byte, 193)...)
)

func TestPeekConnect(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		level byte
		err   error
	}{
		{"mqtt 3.1.1", connect311, levelMQTT311, nil},
		{"mqtt 3.1", connect31, levelMQTT31, nil},
		{"mqtt 5", connect5, levelMQTT5, nil},
		{"level 6", level6, 6, nil},
		{"MQIsdp level 0", level0, 0, nil},
		{"two-byte remaining length", twoByteLength, levelMQTT311, nil},
		{"subscribe first", subscribeFirst, 0, errNotConnect},
		{"five-byte remaining length", longLength, 0, errNotConnect},
		{"unknown protocol name", badName, 0, errNotConnect},
		{"five-byte protocol name", badNameLen, 0, errNotConnect},
		{"remaining length too short", shortRemaining, 0, errNotConnect},
		{"empty", nil, 0, io.EOF},
		{"cut after fixed header", connect311[:2], 0, io.EOF},
		{"cut in protocol name", connect311[:5], 0, io.EOF},
		{"cut before level", connect311[:8], 0, io.EOF},
		{"cut in remaining length", twoByteLength[:2], 0, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReader(bytes.NewReader(tt.in))
			level, err := peekConnect(r)
			if level != tt.level || !errors.Is(err, tt.err) {
				t.Errorf("peekConnect(% x) = %d, %v; want %d, %v", tt.in, level, err, tt.level, tt.err)
			}
			rest, _ := io.ReadAll(r)
			if !bytes.Equal(rest, tt.in) {
				t.Errorf("peekConnect consumed input: %d of %d bytes left", len(rest), len(tt.in))
			}
		})
	}
}

// FuzzPeekConnect checks that the CONNECT gate neither panics nor consumes
// input, and that what it admits starts like a CONNECT.
func FuzzPeekConnect(f *testing.F) {
	for _, seed := range [][]byte{connect311, connect31, connect5, subscribeFirst, longLength, badName, badNameLen, shortRemaining, level6, level0, twoByteLength} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		level, err := peekConnect(r)
		if err == nil && in[0] != 0x10 {
			t.Errorf("peekConnect(% x) = level %d, nil for a packet that is not a CONNECT", in, level)
		}
		if err == nil && supportedLevel(level) && !bytes.Contains(in, []byte("MQ")) {
			t.Errorf("peekConnect(% x) = level %d, nil without a protocol name", in, level)
		}
		rest, _ := io.ReadAll(r)
		if !bytes.Equal(rest, in) {
			t.Errorf("peekConnect consumed input: %d of %d bytes left", len(rest), len(in))
		}
	})
}

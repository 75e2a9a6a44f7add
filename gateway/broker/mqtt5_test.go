package broker

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"patchbay.dev/gateway/broker/brokertest"
)

// truncatedSubscribe5 is an MQTT 5 SUBSCRIBE cut after its topic filter,
// before the subscription options byte: mochi-mqtt v2.7.9's
// SubscribeDecode indexes past the end of it and panics (mochi-mqtt#501).
var truncatedSubscribe5 = []byte{
	0x82, 8, // SUBSCRIBE, remaining length 8
	0, 1, // packet ID
	0,                   // properties: none
	0, 3, 'a', '/', 'b', // topic filter "a/b"; the options byte is missing
}

// TestUpstreamSubscribeDecodeStillPanics documents the trap the listener
// guards against. When it fails, mochi-mqtt fixed #501; the guard stays.
func TestUpstreamSubscribeDecodeStillPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Log("mochi-mqtt's SubscribeDecode no longer panics on a truncated MQTT 5 SUBSCRIBE (mochi-mqtt#501 fixed?)")
		}
	}()
	pk := packets.Packet{ProtocolVersion: 5, FixedHeader: packets.FixedHeader{Type: packets.Subscribe}}
	_ = pk.SubscribeDecode(truncatedSubscribe5[2:])
}

// TestMQTT5Refused sends what crashes a stock mochi-mqtt v2.7.9: an MQTT 5
// CONNECT, then a truncated SUBSCRIBE, in one write and in two. The broker
// answers CONNACK "unacceptable protocol version", closes the connection,
// and goes on serving MQTT 3.1.1 clients.
func TestMQTT5Refused(t *testing.T) {
	b := startDev(t)
	tests := []struct {
		name   string
		writes [][]byte
	}{
		{"one write", [][]byte{append(bytes.Clone(connect5), truncatedSubscribe5...)}},
		{"connect then subscribe", [][]byte{connect5, truncatedSubscribe5}},
		{"level 6", [][]byte{level6, truncatedSubscribe5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", b.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			for _, w := range tt.writes {
				_, _ = c.Write(w) // the broker may have closed already
				time.Sleep(20 * time.Millisecond)
			}
			got, err := io.ReadAll(c)
			var ne *net.OpError // a reset after the CONNACK is fine
			if err != nil && !errors.As(err, &ne) {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, connackRefusedVersion) {
				t.Errorf("broker answered % x, want CONNACK % x and EOF", got, connackRefusedVersion)
			}
		})
	}
	// The broker lives on and serves MQTT 3.1.1 clients.
	inbox := subscribe(t, b, "pb/v1/+/+/events")
	c, err := brokertest.Dial(url(b), nil, "acme/rtr-1", nil)
	if err != nil {
		t.Fatalf("MQTT 3.1.1 client after the MQTT 5 attempts: %v", err)
	}
	defer c.Disconnect(0)
	c.Publish(t, "pb/v1/acme/rtr-1/events", 1, false, "still-serving")
	inbox.waitFor(t, "pb/v1/acme/rtr-1/events still-serving")
	if s := b.Stats(); s.Refused != int64(len(tests)) || s.Panics != 0 {
		t.Errorf("Stats() = %+v, want Refused %d and Panics 0", s, len(tests))
	}
}

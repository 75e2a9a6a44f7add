package broker

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"patchbay.dev/gateway/broker/brokertest"
)

// Packets an MQTT 3.1.1 client may send after CONNECT; the seeds of
// FuzzAfterConnect.
var (
	subscribeOwnAck = packet(0x82, u16(1), str("pb/v1/fuzz/dev/ack"), []byte{1})
	publishOwnEvent = packet(0x32, str("pb/v1/fuzz/dev/events"), u16(7), []byte("xy"))
	publishForged   = packet(0x30, str("pb/v1/other/dev/events"), []byte("x"))
	truncatedSub311 = []byte{0x82, 7, 0, 1, 0, 3, 'a', '/', 'b'} // no QoS byte
	unsubscribe     = packet(0xa2, u16(2), str("a/b"))
	pingreq         = []byte{0xc0, 0}
	disconnect      = []byte{0xe0, 0}
	pubrel          = []byte{0x62, 2, 0, 1}
	huge            = []byte{0x30, 0xff, 0xff, 0xff, 0x7f} // 256 MiB announced
	secondConnect   = brokertest.ConnectPacket("again", "fuzz/dev", "", "")
)

func str(s string) []byte { return append(u16(len(s)), s...) }
func u16(n int) []byte    { return []byte{byte(n >> 8), byte(n)} }

// packet returns a packet with fixed header byte hdr and the parts as its
// body (for bodies under 128 bytes).
func packet(hdr byte, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append([]byte{hdr, byte(len(body))}, body...)
}

// FuzzAfterConnect drives the running broker over TCP: a valid MQTT 3.1.1
// CONNECT, then arbitrary bytes. After each input the broker must still
// admit a new client and answer its PINGREQ, and no connection handler
// may have panicked. One broker serves all inputs of a fuzzing process.
func FuzzAfterConnect(f *testing.F) {
	for _, seed := range [][]byte{
		subscribeOwnAck, publishOwnEvent, publishForged, truncatedSub311, truncatedSubscribe5,
		unsubscribe, pingreq, disconnect, pubrel, huge, secondConnect,
		append(bytes.Clone(pingreq), subscribeOwnAck...), nil,
	} {
		f.Add(seed)
	}
	b, err := New(Config{Addr: "127.0.0.1:0", InsecureDevAuth: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close() })
	addr := b.Addr().String()
	f.Fuzz(func(t *testing.T, data []byte) {
		c := mustConnect(t, addr, "fuzz/dev")
		_, _ = c.Write(data)
		_ = c.(*net.TCPConn).CloseWrite()
		// The broker has handled every byte once it closes its side.
		_, _ = io.Copy(io.Discard, c)
		c.Close()

		probe := mustConnect(t, addr, "probe/dev")
		defer probe.Close()
		if _, err := probe.Write(pingreq); err != nil {
			t.Fatalf("broker stopped serving after % x: write PINGREQ: %v", data, err)
		}
		resp := make([]byte, 2)
		if _, err := io.ReadFull(probe, resp); err != nil || !bytes.Equal(resp, []byte{0xd0, 0}) {
			t.Fatalf("broker stopped serving after % x: PINGREQ answered % x, %v", data, resp, err)
		}
		if n := b.Stats().Panics; n != 0 {
			t.Fatalf("a connection handler panicked (%d so far) after % x", n, data)
		}
	})
}

// mustConnect opens a TCP connection and completes an MQTT 3.1.1 CONNECT
// with username as the device identity.
func mustConnect(t *testing.T, addr, username string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("broker not serving: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(brokertest.ConnectPacket(username, username, "", "")); err != nil {
		c.Close()
		t.Fatalf("broker not serving: write CONNECT: %v", err)
	}
	connack := make([]byte, 4)
	if _, err := io.ReadFull(c, connack); err != nil || !bytes.Equal(connack, []byte{0x20, 2, 0, 0}) {
		c.Close()
		t.Fatalf("broker not serving: CONNACK % x, %v", connack, err)
	}
	return c
}

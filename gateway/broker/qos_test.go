package broker

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"patchbay.dev/gateway/broker/brokertest"
)

// TestSlowSubscriberLosesNothing publishes a burst of QoS 1 messages, up
// to most of a client's write queue, to a device that handles them slowly:
// every one arrives, and the broker drops none.
func TestSlowSubscriberLosesNothing(t *testing.T) {
	const n = MaxWritesPending * 3 / 4
	b := startDev(t)
	var got atomic.Int64
	done := make(chan struct{})
	c, err := brokertest.Dial(url(b), nil, "acme/rtr-1", func(o *paho.ClientOptions) {
		o.SetOrderMatters(true) // one message at a time
		o.SetDefaultPublishHandler(func(paho.Client, paho.Message) {
			if got.Add(1) == n {
				close(done)
			}
			time.Sleep(20 * time.Microsecond)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(0)
	c.Subscribe(t, "pb/v1/acme/rtr-1/cmd")
	for i := range n {
		if err := b.Publish(t.Context(), "pb/v1/acme/rtr-1/cmd", fmt.Appendf(nil, "%d", i), false); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("received %d of %d QoS 1 messages; broker %+v", got.Load(), n, b.Stats())
	}
	if s := b.Stats(); s.MessagesDropped != 0 || s.InflightDropped != 0 {
		t.Errorf("Stats() = %+v, want nothing dropped", s)
	}
}

// TestInProcessSubscriberSlowsPublishers checks that a slow in-process
// subscriber (the gateway) gets every message of a device publishing far
// more than a write queue holds: the device waits instead.
func TestInProcessSubscriberSlowsPublishers(t *testing.T) {
	const n = 2 * MaxWritesPending
	b := startDev(t)
	var got atomic.Int64
	if err := b.Subscribe("pb/v1/+/+/events", func(string, []byte) {
		got.Add(1)
		if got.Load()%512 == 0 {
			time.Sleep(time.Millisecond)
		}
	}); err != nil {
		t.Fatal(err)
	}
	c, err := brokertest.Dial(url(b), nil, "acme/rtr-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(0)
	var last paho.Token
	for i := range n {
		last = c.Client.Publish("pb/v1/acme/rtr-1/events", 1, false, fmt.Sprint(i))
	}
	if !last.WaitTimeout(60 * time.Second) {
		t.Fatal("publishing timed out")
	}
	deadline := time.Now().Add(30 * time.Second)
	for got.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got.Load() != n {
		t.Errorf("in-process subscriber received %d of %d messages", got.Load(), n)
	}
}

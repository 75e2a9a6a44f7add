// Package pahostore is the paho MQTT message store that the agent's
// reporter and the gateway's ingest client both use.
//
// It is paho's memory store, except that it hands out copies of PUBLISH
// packets. When a connection comes (back) up, paho's resume sets the DUP
// flag on every stored packet while its writer may be sending one of them,
// a message published just after the connect (a data race,
// eclipse-paho/paho.mqtt.golang#703, which many messages in flight make
// likely: a gateway's acks, a device's events, a PUBLISH made in
// OnConnect). A copy keeps the two apart; the broker gets a message twice
// at worst, which changes nothing for an ack, an event or a retained
// document.
package pahostore

import (
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// New returns the store, for paho's ClientOptions.SetStore.
func New() paho.Store { return copyingStore{paho.NewMemoryStore()} }

// copyingStore is the store New returns.
type copyingStore struct {
	*paho.MemoryStore
}

// Get returns the packet stored under key, a PUBLISH as a copy.
func (s copyingStore) Get(key string) packets.ControlPacket {
	p := s.MemoryStore.Get(key)
	if pub, ok := p.(*packets.PublishPacket); ok {
		// Field by field: the writer sets RemainingLength as it sends.
		c := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		c.Qos, c.Retain, c.Dup = pub.Qos, pub.Retain, pub.Dup
		c.TopicName, c.MessageID, c.Payload = pub.TopicName, pub.MessageID, pub.Payload
		return c
	}
	return p
}

package report

import (
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// memoryStore is paho's memory store, except that it hands out copies of
// PUBLISH packets. When a connection comes up, paho's resume sets the DUP
// flag on every stored packet while its writer may be sending one of them
// (a data race, eclipse-paho/paho.mqtt.golang#703): a PUBLISH made in
// OnConnect is exactly such a packet. A copy keeps the two apart; the
// broker gets the message twice at worst, which every document here
// tolerates.
type memoryStore struct {
	*mqtt.MemoryStore
}

func newMemoryStore() memoryStore { return memoryStore{mqtt.NewMemoryStore()} }

// Get returns the packet stored under key, a PUBLISH as a copy.
func (s memoryStore) Get(key string) packets.ControlPacket {
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

package pahostore

import (
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

func TestGetHandsOutCopiesOfPublishPackets(t *testing.T) {
	s := New()
	s.Open()
	defer s.Close()
	pub := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	pub.Qos, pub.Retain, pub.TopicName, pub.MessageID, pub.Payload = 1, true, "pb/v1/t/d/events", 7, []byte("x")
	s.Put("o.7", pub)
	got, ok := s.Get("o.7").(*packets.PublishPacket)
	if !ok {
		t.Fatalf("Get = %T, want a PUBLISH", s.Get("o.7"))
	}
	if got == pub {
		t.Fatal("Get returned the stored packet itself, which paho's resume changes while the writer sends it")
	}
	got.Dup = true
	if pub.Dup {
		t.Fatal("changing the copy changed the stored packet")
	}
	if got.Qos != 1 || !got.Retain || got.TopicName != pub.TopicName || got.MessageID != 7 || string(got.Payload) != "x" {
		t.Fatalf("copy = %+v, want the stored packet's fields", got)
	}
	ack := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
	ack.MessageID = 9
	s.Put("i.9", ack)
	if s.Get("i.9") != ack {
		t.Fatal("a PUBACK should come back as stored")
	}
}

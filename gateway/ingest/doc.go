// Package ingest moves what devices send over MQTT into the fleet store:
// status, state documents and events, and acknowledges stored events to
// each device on its retained ack topic.
//
// An Ingester takes Messages from a source and handles them in batches on
// one goroutine (Run): it decodes each payload (firmware/telemetry), stores
// statuses and states, adds each device's events with one
// store.AddEvents call (idempotent by device sequence number), publishes
// the ack that AddEvents returns when it advanced, and only then tells the
// source that the messages are handled (Message.Ack). So a message the
// broker redelivers, or an event a device re-sends, changes nothing, and a
// gateway killed at any point loses nothing a device will not send again.
//
// Sources: SubscribeInline reads from the embedded broker in process;
// Client reads from an external broker (mosquitto, EMQX, …) with paho as
// an MQTT 3.1.1 client with a persistent session, QoS 1, shared
// subscriptions ($share/{group}/pb/v1/+/+/{status,state,events}) so that
// several gateways split the stream, and manual acknowledgement.
//
// A malformed message (unknown topic, bad CBOR, another schema version, a
// state naming another device, sequence number 0) is logged, counted and
// acknowledged: sending it again would not make it better. A store error
// that may be transient is retried until it succeeds or Run's context
// ends; nothing is acknowledged before it is stored. Counters are safe to
// read from any goroutine.
package ingest

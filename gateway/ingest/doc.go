// Package ingest moves what devices send over MQTT into the fleet store:
// status, state documents and events, and acknowledges stored events to
// each device on its retained ack topic.
//
// An Ingester takes Messages from a source and handles them in batches of
// up to MaxBatch on one goroutine (Run): it decodes each payload
// (firmware/telemetry) and stores the batch's statuses, its states and the
// events of all its devices with one batch call each
// (store.Store.PutStatusBatch, PutStateBatch, AddEventBatch: one
// transaction each, idempotent by device sequence number). Events a device
// sends again that its known ack already covers do not reach the store. It
// then publishes the acks that advanced (and those of devices that sent
// again what their ack covers), all at once, and tells the source that the
// messages are handled (Message.Ack); a goroutine of Run's waits for the
// broker to take the acks while Run stores the next batch. So a message
// the broker redelivers, or an event a device re-sends, changes nothing,
// and a gateway killed at any point loses nothing a device will not send
// again: a stored event whose ack is lost is acknowledged when its device
// sends it again.
//
// Sources: SubscribeInline reads from the embedded broker in process;
// Client reads from an external broker (mosquitto, EMQX, …) with paho as
// an MQTT 3.1.1 client with a persistent session, QoS 1, shared
// subscriptions ($share/{group}/pb/v1/+/+/{status,state,events}) so that
// several gateways split the stream, and manual acknowledgement, over a
// connection with buffered reads and coalesced writes (OpenConnection).
//
// A malformed message (unknown topic, bad CBOR, another schema version, a
// state naming another device, sequence number 0), and one whose entry the
// store refuses as invalid (store.ErrInvalid; the store then stores the
// batch's other entries), is logged, counted and acknowledged: sending it
// again would not make it better. A store error that may be transient is
// retried until it succeeds or Run's context ends; nothing is acknowledged
// before it is stored. Counters are safe to read from any goroutine.
package ingest

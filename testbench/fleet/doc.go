// Package fleet simulates many lightweight devices reporting to a broker
// the way the agent does, for tests, the demo and load: each device has its
// own MQTT connection and identity, publishes "online" and its retained
// state, sends numbered events (CBOR, QoS 1), and re-sends every event the
// gateway's retained ack does not yet cover, until all are acknowledged.
//
// It stands in for the many, not for the agent: it has no outbox on disk
// and installs nothing. The devices that install updates in the demo run
// the real agent. Run owns every goroutine and connection it starts and
// returns when they are gone.
package fleet

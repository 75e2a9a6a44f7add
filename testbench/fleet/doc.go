// Package fleet simulates many lightweight devices reporting to a broker
// the way the agent does, for tests, the demo and load: each device has its
// own MQTT connection (paho, MQTT 3.1.1, persistent session) and identity,
// publishes "online" and its retained state, sends numbered events (CBOR,
// QoS 1, a few in flight), and sends every event the gateway's retained ack
// does not yet cover again when the ack stops moving, waiting twice as
// long after each re-send that brought no ack, until all are
// acknowledged. On its way out a device publishes "offline", as the agent
// does.
//
// It stands in for the many, not for the agent: it has no outbox on disk
// and installs nothing. The devices that install updates in the demo run
// the real agent (agent/report). testbench/cmd/fleetsim runs a fleet from
// the command line.
//
// Run owns every goroutine and connection it starts: each device's
// goroutine owns its paho client, and paho's callbacks only touch atomic
// counters. Run returns when every device has disconnected; a device that
// gives up while paho is between two reconnection attempts leaves paho's
// reconnect goroutine asleep for at most its back-off (2 s) before it
// ends. Counters are safe to read from any goroutine while Run runs.
package fleet

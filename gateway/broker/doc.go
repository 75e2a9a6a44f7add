// Package broker is the gateway's embedded MQTT broker, built on
// mochi-mqtt/server/v2: one TCP listener, with TLS that requires client
// certificates from the device CA, an authentication and ACL hook that
// confines each device to its own topics, and an in-process client through
// which the gateway publishes and subscribes without a network round trip.
//
// # Identities
//
// With TLS, a client is who its certificate's Common Name says
// (pki.IdentityOf): "{tenant}/{device}" for a device, a service name for a
// gateway. Services are admitted only if Config.Services lists them. For
// development and demos without TLS, Config.InsecureDevAuth takes a device's
// identity from the CONNECT username "{tenant}/{device}", unverified; a
// plain-TCP listener without it admits no one. The identity also becomes
// the client ID of a device, so that one device cannot take over another's
// session whatever client ID it sends (as mosquitto's
// use_username_as_clientid does).
//
// Devices may publish status, state and events on their own topics, set a
// last will on their own status topic only, and subscribe to their own
// desired, cmd and ack topics (exact filters; see pki). Services may use
// every topic. The gateway's in-process client (Publish, Subscribe) bypasses
// the checks.
//
// # MQTT 5 is refused
//
// Patchbay agents speak MQTT 3.1.1. The listener reads the protocol level
// of each CONNECT before mochi-mqtt decodes anything and answers any level
// other than 3 (MQTT 3.1) or 4 (MQTT 3.1.1) with CONNACK "unacceptable
// protocol version", then closes the connection. So mochi-mqtt's MQTT 5
// decoders never see outside bytes: v2.7.9 panics, and takes the whole
// process down, on an MQTT 5 SUBSCRIBE cut short after a topic filter
// (mochi-mqtt#501). Should any other decoder panic, the listener recovers
// at the connection boundary, logs the stack, closes that connection and
// counts it in Stats.Panics; the tests require that count to stay 0.
//
// # Slow subscribers
//
// The gateway reads its devices' messages in process (Subscribe): the
// broker calls it on the publishing client's goroutine, so a busy gateway
// slows its devices down instead of dropping what they send. Network
// subscribers get what mochi-mqtt gives them: a write queue of
// MaxWritesPending messages per client (MQTT 3 clients have no flow
// control in mochi-mqtt v2.7.9, whose MQTT 5 send quota loses messages),
// up to MaxInflight unacknowledged QoS 1 messages, and no expiry for
// retained or queued messages. A subscriber that falls further behind loses
// messages; Stats counts them. The queue is sized for devices, which
// receive little (desired state, commands, acks), because mochi-mqtt
// allocates it whole for every client and keeps it with the session: 256
// messages are 2 KiB per device, its default of 8192 was 64 KiB. The
// DESIGN's rule covers the rest: a device re-sends every event until the
// gateway's ack covers it. A service that subscribes over the network to
// every device's events (another gateway replica) would lose messages at
// bursts beyond the queue, and get them only when their devices re-send;
// fleets that need that run an external broker (docs/gateway.md).
//
// Sessions of persistent (clean session false) clients are kept for
// SessionExpiry after they disconnect. Everything is in memory: a broker
// restart loses queued messages and retained documents, which devices
// publish again when they reconnect.
//
// A Broker is safe for concurrent use. New starts it; Close stops it and
// waits for every goroutine it started.
package broker

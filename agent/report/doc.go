// Package report connects the agent to the gateway over MQTT (paho, v1
// topics of firmware/telemetry): it announces the device, publishes its
// state, sends the events of the outbox until the gateway acknowledges
// them, and hands the gateway's commands and desired state to the caller.
//
// The connection uses TLS with the device's client certificate when the
// broker URL asks for it, a persistent session (CleanSession false, a
// client id derived from tenant and device), QoS 1 and paho's memory store:
// the outbox (agent/outbox) is the durable queue, not paho. On every
// connection the reporter publishes "online" on the status topic (retained,
// with "offline" as the retained last will), the state document (retained),
// and subscribes to its cmd, desired and ack topics; subscriptions are made
// on each connection because paho forgets them on reconnect.
//
// A PUBACK is not delivery. Events stay in the outbox until an ack document
// on the ack topic covers them; events sent and not acknowledged are sent
// again after ResendAfter and after every reconnect, so gaps the broker made
// are filled. While the ack does not move, each re-send doubles the wait
// for the next, up to MaxResendAfter, so that a gateway working off a
// backlog is not flooded with copies of it; an ack that moves resets the
// wait. The gateway de-duplicates by sequence number.
//
// A command or desired document that does not decode, a command this agent
// does not know, a retained command (commands are never retained: one
// would run again on every connection) and a handler's error each become an
// error event, with one of the Reason constants; nothing the gateway sends
// can stop the reporter.
//
// It does not decide anything about updates; Handler does. StateCommand is
// the "state" command of patchbay-agent, which prints the state document.
//
// A Reporter is safe for concurrent use. Run owns every goroutine the
// reporter starts and returns when its context ends, after publishing
// "offline" and disconnecting.
package report

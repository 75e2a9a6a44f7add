// Package brokertest is the conformance suite for the MQTT brokers Patchbay
// runs with: whatever the broker (the embedded one of gateway/broker, or
// mosquitto with the ACL file of gateway/pki), a device that authenticates
// with its certificate can publish on and receive its own topics only, and
// a gateway service can use everyone's. It also makes the certificates the
// suite needs.
//
// It is for tests only. Its functions call t.Fatal and must run on the
// test's goroutine.
package brokertest

// Package ingesttest has a fake device for tests of the gateway's ingest:
// a paho MQTT client that numbers its events, keeps each in an outbox until
// the gateway's ack covers it, and re-sends what the ack does not cover, as
// the agent does. It is for tests only; its methods that take a testing.TB
// call t.Fatal and must run on the test's goroutine.
package ingesttest

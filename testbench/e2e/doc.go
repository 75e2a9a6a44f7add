// Package e2e holds Patchbay's end-to-end proofs: real agents
// (agent/report with agent/outbox) and a real gateway ingest
// (gateway/ingest with the SQLite store) talking through a real broker
// (mosquitto, started by testbench/services), with faults injected from
// outside: the broker killed with SIGKILL, agents restarted on the same
// outbox directory.
//
// It has no API; everything is in its tests. They need mosquitto
// (Debian's mosquitto package) and run with plain `go test`, -race
// included. The broker outage test takes its 30 s outage plus the agents'
// reconnect back-off, ~40–50 s in all. BenchmarkAddEventsPerCall measures
// the store's per-device call (bench/RESULTS.md); the ingester stores a
// whole batch with AddEventBatch (benchmarked in gateway/store/sqlite and
// postgres), and testbench/cmd/ingestbench measures the whole ingest path.
package e2e

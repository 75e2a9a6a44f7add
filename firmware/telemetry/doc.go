// Package telemetry is the contract between agent and gateway on MQTT: the
// v1 topic names and the CBOR documents sent on them (state, events,
// desired state, commands, acknowledgements), with a JSON rendering for
// people and debugging.
//
// Every document carries a schema version. Decoders accept fields they do
// not know (agents and gateways upgrade at different times) but refuse
// another schema major version, duplicate map keys, and sizes beyond fixed
// limits. It does no I/O; its values are plain data and its functions are
// safe for concurrent use.
package telemetry

// Package store is the gateway's fleet store: devices with their tenant,
// site, tags and last state document, and every event each device sent,
// stored once per (tenant, device, sequence).
//
// Store is the one interface; its implementations live in subpackages
// (sqlite, the embedded default; postgres, for scale) and all pass the same
// conformance suite in storetest. Their schemas are versioned by the
// migration package. Implementations are safe for concurrent use, keep
// times to the microsecond and return them in UTC.
//
// The Check functions hold the rules every implementation applies to its
// input; errors they return wrap ErrInvalid and are permanent. The batch
// methods (PutStateBatch, PutStatusBatch, AddEventBatch) write the entries
// of many devices in one transaction; they check every entry first and
// refuse an invalid one on its own, reporting it in its place of the
// result, so that one bad device never costs the others their events.
// GroupEvents and EventGroup.Settle hold what AddEventBatch does the same
// in every implementation. The store
// is not responsible for decoding MQTT payloads (the gateway's ingest is)
// nor for deciding what a device should run (policies and rollouts are).
package store

// Package store is the gateway's fleet store: devices with their tenant,
// site, tags and last state document, and every event each device sent,
// stored once per (tenant, device, sequence).
//
// Store is the one interface; its implementations live in subpackages
// (sqlite, the embedded default; postgres, for scale) and all pass the same
// conformance suite in storetest. Implementations are safe for concurrent
// use.
package store

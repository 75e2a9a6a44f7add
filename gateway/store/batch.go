package store

import (
	"fmt"
	"time"

	"patchbay.dev/firmware/telemetry"
)

// DeviceEvents are one device's events, an entry of AddEventBatch.
type DeviceEvents struct {
	Tenant string
	Device string
	Events []telemetry.Event
}

// EventsResult is what AddEventBatch did with one entry of its batch.
type EventsResult struct {
	// Ack is the device's highest contiguous stored sequence number once
	// the batch is stored, as AddEvents returns it.
	Ack uint64
	// New counts the entry's events whose sequence number this call
	// stored and no earlier event of the device in the batch had; the
	// entry's other events are duplicates.
	New int
	// Err, when not nil, says why the entry was refused; it wraps
	// ErrInvalid, nothing of the entry was stored, and Ack and New are 0.
	Err error
}

// DeviceStatus is one status, an entry of PutStatusBatch.
type DeviceStatus struct {
	Tenant string
	Device string
	Status string // StatusOnline or StatusOffline
	At     time.Time
}

// EventGroup is the events of one device from the accepted entries of an
// AddEventBatch batch, checked, with events-dropped markers expanded
// (ExpandDropped) and encoded: what a store writes for the device.
type EventGroup struct {
	Tenant string
	Device string
	// Events and their CBOR documents, in the order of the batch.
	Events []telemetry.Event
	Docs   [][]byte
	// Entries are the indexes of the batch entries the group holds.
	Entries []int
}

// GroupEvents checks every entry of an AddEventBatch batch (CheckEvents)
// and groups the events of the accepted ones by device, in the order the
// devices first appear. results has one element per entry; a refused
// entry's Err is set, and the Settle of each group fills in the others.
// A group may hold no events: its entries only ask for the device's ack.
// The caller's events are left as they were.
func GroupEvents(batch []DeviceEvents, received time.Time) (groups []*EventGroup, results []EventsResult) {
	results = make([]EventsResult, len(batch))
	index := make(map[[2]string]*EventGroup, len(batch))
	for i, e := range batch {
		events, docs, err := encodeEntry(e, received)
		if err != nil {
			results[i].Err = err
			continue
		}
		key := [2]string{e.Tenant, e.Device}
		g := index[key]
		if g == nil {
			g = &EventGroup{Tenant: e.Tenant, Device: e.Device}
			index[key] = g
			groups = append(groups, g)
		}
		g.Events = append(g.Events, events...)
		g.Docs = append(g.Docs, docs...)
		g.Entries = append(g.Entries, i)
	}
	return groups, results
}

// encodeEntry checks one entry, expands its events-dropped markers and
// encodes every event.
func encodeEntry(e DeviceEvents, received time.Time) ([]telemetry.Event, [][]byte, error) {
	if err := CheckEvents(e.Tenant, e.Device, e.Events, received); err != nil {
		return nil, nil, err
	}
	events := ExpandDropped(e.Events)
	docs := make([][]byte, len(events))
	for i := range events {
		ev := events[i] // Marshal sets the schema version; leave the caller's slice alone
		doc, err := telemetry.Marshal(&ev)
		if err != nil {
			// The same event fails the same way every time.
			return nil, nil, fmt.Errorf("event %d of %s/%s: %w: %w", ev.Seq, e.Tenant, e.Device, ErrInvalid, err)
		}
		docs[i] = doc
	}
	return events, docs, nil
}

// Settle records in results what the store did for the group: the
// device's ack after the batch, and which sequence numbers the store
// inserted (inserted reports it for each of the group's). Each entry's
// New counts its events whose sequence number was inserted and not
// already counted for an earlier entry or event of the device.
func (g *EventGroup) Settle(batch []DeviceEvents, results []EventsResult, ack uint64, inserted func(seq uint64) bool) {
	var counted map[uint64]bool
	for _, i := range g.Entries {
		results[i].Ack = ack
		for _, ev := range batch[i].Events {
			if !inserted(ev.Seq) || counted[ev.Seq] {
				continue
			}
			if counted == nil {
				counted = map[uint64]bool{}
			}
			counted[ev.Seq] = true
			results[i].New++
		}
	}
}

// CheckStatuses checks every entry of a PutStatusBatch batch
// (CheckStatus). refused has one element per entry: nil for the accepted
// ones, whose indexes are in accepted.
func CheckStatuses(statuses []DeviceStatus) (accepted []int, refused []error) {
	refused = make([]error, len(statuses))
	for i, s := range statuses {
		if refused[i] = CheckStatus(s.Tenant, s.Device, s.Status, s.At); refused[i] == nil {
			accepted = append(accepted, i)
		}
	}
	return accepted, refused
}

// CheckStates checks every entry of a PutStateBatch batch (CheckState).
// refused has one element per entry: nil for the accepted ones, whose
// indexes are in accepted.
func CheckStates(states []telemetry.State, received time.Time) (accepted []int, refused []error) {
	refused = make([]error, len(states))
	for i, st := range states {
		if refused[i] = CheckState(st, received); refused[i] == nil {
			accepted = append(accepted, i)
		}
	}
	return accepted, refused
}

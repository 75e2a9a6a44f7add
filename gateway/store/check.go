package store

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"patchbay.dev/firmware/telemetry"
)

// MaxSeq is the highest event sequence number a store accepts; databases
// keep sequence numbers as signed 64-bit integers.
const MaxSeq = math.MaxInt64 - 1

// Statuses a device can have.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// CheckDevice returns an error wrapping ErrInvalid unless tenant and device
// are valid IDs (telemetry.ValidID).
func CheckDevice(tenant, device string) error {
	if !telemetry.ValidID(tenant) {
		return fmt.Errorf("tenant %q: %w ID (want 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit)", tenant, ErrInvalid)
	}
	if !telemetry.ValidID(device) {
		return fmt.Errorf("device %q of tenant %s: %w ID (want 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit)", device, tenant, ErrInvalid)
	}
	return nil
}

// CheckState returns an error wrapping ErrInvalid for what PutState refuses.
func CheckState(st telemetry.State, received time.Time) error {
	if err := CheckDevice(st.Tenant, st.DeviceID); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if received.IsZero() {
		return fmt.Errorf("state of %s/%s: %w zero receive time", st.Tenant, st.DeviceID, ErrInvalid)
	}
	return nil
}

// CheckStatus returns an error wrapping ErrInvalid for what PutStatus
// refuses.
func CheckStatus(tenant, device, status string, at time.Time) error {
	if err := CheckDevice(tenant, device); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if status != StatusOnline && status != StatusOffline {
		return fmt.Errorf("status of %s/%s: %w status %q (want %q or %q)", tenant, device, ErrInvalid, status, StatusOnline, StatusOffline)
	}
	if at.IsZero() {
		return fmt.Errorf("status of %s/%s: %w zero time", tenant, device, ErrInvalid)
	}
	return nil
}

// CheckEvents returns an error wrapping ErrInvalid for what AddEvents
// refuses: sequence numbers must be 1..MaxSeq.
func CheckEvents(tenant, device string, events []telemetry.Event, received time.Time) error {
	if err := CheckDevice(tenant, device); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if received.IsZero() {
		return fmt.Errorf("events of %s/%s: %w zero receive time", tenant, device, ErrInvalid)
	}
	for i, ev := range events {
		if ev.Seq == 0 || ev.Seq > MaxSeq {
			return fmt.Errorf("event %d of %s/%s: %w sequence number %d (want 1..%d)", i, tenant, device, ErrInvalid, ev.Seq, uint64(MaxSeq))
		}
	}
	return nil
}

// EventsLimit returns how many events Events returns for the caller's
// limit, or an error wrapping ErrInvalid for a negative one.
func EventsLimit(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, fmt.Errorf("events limit %d: %w (want 0 for the default, or more)", limit, ErrInvalid)
	case limit == 0:
		return DefaultEventsLimit, nil
	default:
		return min(limit, MaxEventsLimit), nil
	}
}

// MaxDroppedRun bounds the run of sequence numbers one events-dropped
// event may stand for.
const MaxDroppedRun = 1 << 20

// ExpandDropped returns events with every telemetry.ReasonEventsDropped
// event preceded by placeholders for the rest of the run it stands for
// (Data[telemetry.DataFirstSeq] .. Seq-1), so that the run counts as
// stored and the device's acknowledgement moves past it. A marker whose
// first_seq is missing, malformed, not below Seq or too far below is kept
// as an ordinary event.
func ExpandDropped(events []telemetry.Event) []telemetry.Event {
	var out []telemetry.Event
	for i, ev := range events {
		first, ok := droppedFrom(ev)
		if !ok {
			if out != nil {
				out = append(out, ev)
			}
			continue
		}
		if out == nil {
			out = append(make([]telemetry.Event, 0, len(events)+int(ev.Seq-first)), events[:i]...)
		}
		for seq := first; seq < ev.Seq; seq++ {
			out = append(out, telemetry.Event{
				Schema: ev.Schema, Seq: seq, Time: ev.Time, Type: telemetry.EventInfo,
				Reason: telemetry.ReasonEventsDropped, Message: "dropped by the device's outbox when it was full",
			})
		}
		out = append(out, ev)
	}
	if out == nil {
		return events
	}
	return out
}

func droppedFrom(ev telemetry.Event) (uint64, bool) {
	if ev.Reason != telemetry.ReasonEventsDropped {
		return 0, false
	}
	first, err := strconv.ParseUint(ev.Data[telemetry.DataFirstSeq], 10, 64)
	if err != nil || first == 0 || first >= ev.Seq || ev.Seq-first > MaxDroppedRun {
		return 0, false
	}
	return first, true
}

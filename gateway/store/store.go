package store

import (
	"context"
	"errors"
	"time"

	"patchbay.dev/firmware/telemetry"
)

// ErrNotFound is returned when a device does not exist.
var ErrNotFound = errors.New("not found")

// ErrInvalid is wrapped by errors for input a store refuses (an invalid
// tenant or device ID, sequence number 0, a zero receive time). Such an
// error is permanent: retrying the same call fails the same way. Any other
// error from a store may be transient (database unreachable, disk full).
var ErrInvalid = errors.New("invalid")

// Limits of Events.
const (
	DefaultEventsLimit = 100  // when limit is 0
	MaxEventsLimit     = 1000 // larger limits return at most this many
)

// Store keeps the fleet's state and events.
type Store interface {
	// PutState records a device's retained state document, creating the
	// device on first sight, and sets the device's site, tags, board,
	// version (SelfVersion), agent version and phase from it. A document
	// that is not newer (by State.Time) than the one stored changes
	// nothing, not even LastSeen: the broker redelivers retained documents
	// whenever the gateway subscribes.
	PutState(ctx context.Context, st telemetry.State, received time.Time) error
	// PutStatus records "online" or "offline", creating the device on first
	// sight. A status older than the one stored (by at) changes nothing;
	// "online" also advances LastSeen to at.
	PutStatus(ctx context.Context, tenant, device, status string, at time.Time) error
	// AddEvents stores events idempotently by (tenant, device, seq): a
	// redelivered event changes nothing. It returns the device's highest
	// contiguous stored sequence number (every event 1..ack is stored),
	// the value the gateway acknowledges on the device's ack topic.
	// Events may come before the device's first state: AddEvents creates
	// the device. It advances LastSeen to received. With no events it
	// returns the stored ack (0 for an unknown device) and changes nothing.
	AddEvents(ctx context.Context, tenant, device string, events []telemetry.Event, received time.Time) (ack uint64, err error)

	// The batch methods do what the single ones do for many devices, in
	// one transaction (one commit, one round trip where the database
	// allows): the gateway's ingest stores each batch of MQTT messages
	// with one call of each. A batch leaves the store as consecutive
	// calls of the single method with its entries, in their order, would.
	// Each entry is checked first, as the single method checks it: an
	// invalid one is refused on its own, with an error wrapping
	// ErrInvalid in its place of the result, and the others are stored.
	// The error returned beside the result is for the batch as a whole:
	// nothing was stored, and it may be transient.

	// PutStateBatch records states as PutState does. refused has one
	// element per state: nil for one handled (stored, or ignored as not
	// newer), else why it was refused.
	PutStateBatch(ctx context.Context, states []telemetry.State, received time.Time) (refused []error, err error)
	// PutStatusBatch records statuses as PutStatus does. refused has one
	// element per status, as for PutStateBatch.
	PutStatusBatch(ctx context.Context, statuses []DeviceStatus) (refused []error, err error)
	// AddEventBatch stores each device's events as AddEvents does and
	// returns one result per entry. Entries of the same device are stored
	// together: each gets the device's ack after the batch. An entry
	// without events creates nothing and gets the device's ack.
	AddEventBatch(ctx context.Context, batch []DeviceEvents, received time.Time) ([]EventsResult, error)

	// Devices lists devices matching the filter, ordered by tenant and id.
	Devices(ctx context.Context, f DeviceFilter) ([]Device, error)
	// Device returns one device or ErrNotFound.
	Device(ctx context.Context, tenant, device string) (Device, error)
	// Events returns a device's events with seq > after, oldest first, at
	// most limit (0: DefaultEventsLimit; never more than MaxEventsLimit),
	// or ErrNotFound for an unknown device.
	Events(ctx context.Context, tenant, device string, after uint64, limit int) ([]StoredEvent, error)
	// Stats counts what the store holds, for health and metrics.
	Stats(ctx context.Context) (Stats, error)
	// Close releases the database; calling it again does nothing.
	Close() error
}

// DeviceFilter selects devices; empty fields match everything.
type DeviceFilter struct {
	Tenant  string
	Site    string
	Board   string
	Version string // firmware version of the device itself
	Tag     string
	Limit   int // 0: no limit
}

// Device is a device as the gateway knows it.
type Device struct {
	Tenant       string           `json:"tenant"`
	ID           string           `json:"id"`
	Site         string           `json:"site"`
	Tags         []string         `json:"tags"`
	Board        string           `json:"board"`
	Version      string           `json:"version"` // firmware of the device itself
	AgentVersion string           `json:"agent_version"`
	Status       string           `json:"status"`    // online, offline, or "" before the first status
	LastSeen     time.Time        `json:"last_seen"` // latest new state, events or "online" received
	Phase        string           `json:"phase"`     // update state machine phase
	AckSeq       uint64           `json:"ack_seq"`
	State        *telemetry.State `json:"state,omitempty"` // last state document
}

// StoredEvent is an event with the time the gateway stored it.
type StoredEvent struct {
	Tenant   string          `json:"tenant"`
	Device   string          `json:"device"`
	Received time.Time       `json:"received"`
	Event    telemetry.Event `json:"event"`
}

// Stats counts what the store holds.
type Stats struct {
	Devices int64 `json:"devices"`
	Events  int64 `json:"events"`
}

// SelfVersion returns the firmware version of the device itself from its
// state: the inventory component of kind "firmware" with id "self".
func SelfVersion(st telemetry.State) string {
	for _, c := range st.Inventory {
		if c.ID == "self" && c.Kind == "firmware" {
			return c.Version
		}
	}
	return ""
}

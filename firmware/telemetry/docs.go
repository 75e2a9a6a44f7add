package telemetry

import "time"

// SchemaVersion is the major version of the documents in this package.
// A decoder refuses any other.
const SchemaVersion = 1

// State is the retained inventory and update state of one device.
type State struct {
	Schema       int         `cbor:"schema" json:"schema"`
	DeviceID     string      `cbor:"device_id" json:"device_id"`
	Tenant       string      `cbor:"tenant" json:"tenant"`
	Site         string      `cbor:"site" json:"site"`
	Tags         []string    `cbor:"tags,omitempty" json:"tags,omitempty"`
	Board        string      `cbor:"board" json:"board"`
	AgentVersion string      `cbor:"agent_version" json:"agent_version"`
	Time         time.Time   `cbor:"time" json:"time"`
	Seq          uint64      `cbor:"seq" json:"seq"` // last event sequence number produced
	Inventory    []Component `cbor:"inventory,omitempty" json:"inventory,omitempty"`
	Update       Update      `cbor:"update" json:"update"`
	// DroppedEvents counts progress events the outbox dropped when full.
	DroppedEvents uint64 `cbor:"dropped_events,omitempty" json:"dropped_events,omitempty"`
}

// Component is one thing with firmware the device knows of: itself, an app,
// the agent, an SNMP neighbour, a serial-attached MCU.
type Component struct {
	ID      string `cbor:"id" json:"id"`
	Kind    string `cbor:"kind" json:"kind"` // firmware, app, agent, snmp, serial
	Board   string `cbor:"board,omitempty" json:"board,omitempty"`
	Vendor  string `cbor:"vendor,omitempty" json:"vendor,omitempty"`
	Model   string `cbor:"model,omitempty" json:"model,omitempty"`
	Version string `cbor:"version,omitempty" json:"version,omitempty"`
	Address string `cbor:"address,omitempty" json:"address,omitempty"`
	Serial  string `cbor:"serial,omitempty" json:"serial,omitempty"`
	// Unknown is set when no board profile fits; Detail then carries what
	// the device said about itself (sysObjectID, sysDescr).
	Unknown bool   `cbor:"unknown,omitempty" json:"unknown,omitempty"`
	Detail  string `cbor:"detail,omitempty" json:"detail,omitempty"`
}

// Update is where the device's update state machine stands.
type Update struct {
	Phase       string    `cbor:"phase" json:"phase"` // idle, downloading, staged, switching, rebooting, trial, committed, failed, rolled-back
	Target      string    `cbor:"target,omitempty" json:"target,omitempty"`
	FromVersion string    `cbor:"from_version,omitempty" json:"from_version,omitempty"`
	ToVersion   string    `cbor:"to_version,omitempty" json:"to_version,omitempty"`
	Since       time.Time `cbor:"since,omitempty" json:"since,omitempty"`
	LastOutcome *Outcome  `cbor:"last_outcome,omitempty" json:"last_outcome,omitempty"`
}

// Outcome is how an update ended.
type Outcome struct {
	Result      string    `cbor:"result" json:"result"` // committed, rolled-back, failed
	Reason      string    `cbor:"reason,omitempty" json:"reason,omitempty"`
	Detail      string    `cbor:"detail,omitempty" json:"detail,omitempty"`
	Target      string    `cbor:"target,omitempty" json:"target,omitempty"`
	FromVersion string    `cbor:"from_version,omitempty" json:"from_version,omitempty"`
	ToVersion   string    `cbor:"to_version,omitempty" json:"to_version,omitempty"`
	At          time.Time `cbor:"at" json:"at"`
}

// Event types.
const (
	EventProgress = "progress" // may be dropped first when the outbox is full
	EventResult   = "result"
	EventError    = "error"
	EventInfo     = "info"
)

// ReasonEventsDropped is the Reason of the info event that stands for a run
// of progress events a device's outbox dropped when full: its Seq is the
// run's last number and Data[DataFirstSeq] the run's first. The gateway
// counts the whole run as delivered, so its acknowledgement moves on.
const (
	ReasonEventsDropped = "events-dropped"
	DataFirstSeq        = "first_seq"
)

// Event is one thing that happened on a device, numbered by the device.
type Event struct {
	Schema  int               `cbor:"schema" json:"schema"`
	Seq     uint64            `cbor:"seq" json:"seq"` // per device, from 1, survives restarts
	Time    time.Time         `cbor:"time" json:"time"`
	Type    string            `cbor:"type" json:"type"`
	Phase   string            `cbor:"phase,omitempty" json:"phase,omitempty"`
	Target  string            `cbor:"target,omitempty" json:"target,omitempty"`
	Reason  string            `cbor:"reason,omitempty" json:"reason,omitempty"`
	Message string            `cbor:"message,omitempty" json:"message,omitempty"`
	Done    int64             `cbor:"done,omitempty" json:"done,omitempty"`
	Total   int64             `cbor:"total,omitempty" json:"total,omitempty"`
	Data    map[string]string `cbor:"data,omitempty" json:"data,omitempty"`
}

// Ack is the gateway's word that it stored every event of a device up to
// and including Seq (the highest contiguous sequence number stored).
type Ack struct {
	Schema int       `cbor:"schema" json:"schema"`
	Seq    uint64    `cbor:"seq" json:"seq"`
	Time   time.Time `cbor:"time" json:"time"`
}

// Desired is the gateway's assignment to a device. The agent still verifies
// the target against TUF: the gateway chooses which signed target and when,
// never what may be installed.
type Desired struct {
	Schema   int       `cbor:"schema" json:"schema"`
	Revision uint64    `cbor:"revision" json:"revision"`
	Target   string    `cbor:"target,omitempty" json:"target,omitempty"`
	Version  string    `cbor:"version,omitempty" json:"version,omitempty"`
	Rollout  string    `cbor:"rollout,omitempty" json:"rollout,omitempty"`
	NotAfter time.Time `cbor:"not_after,omitempty" json:"not_after,omitempty"`
	// Policy narrows the device's local policy; empty fields leave it.
	Policy DesiredPolicy `cbor:"policy" json:"policy"`
}

// DesiredPolicy is the part of a policy the gateway sends a device.
type DesiredPolicy struct {
	AutoApprove string          `cbor:"auto_approve,omitempty" json:"auto_approve,omitempty"`
	Reboot      string          `cbor:"reboot,omitempty" json:"reboot,omitempty"`
	Windows     []DesiredWindow `cbor:"windows,omitempty" json:"windows,omitempty"`
}

// DesiredWindow is a maintenance window: cron start, duration, IANA zone.
type DesiredWindow struct {
	Cron     string `cbor:"cron" json:"cron"`
	Duration string `cbor:"duration" json:"duration"`
	TimeZone string `cbor:"timezone" json:"timezone"`
}

// Command names.
const (
	CmdCheckNow     = "check-now"
	CmdInventoryNow = "inventory-now"
	CmdReboot       = "reboot"
	CmdRollback     = "rollback"
)

// Command is an operator's request to one device.
type Command struct {
	Schema int       `cbor:"schema" json:"schema"`
	ID     string    `cbor:"id" json:"id"`
	Name   string    `cbor:"name" json:"name"`
	Issued time.Time `cbor:"issued" json:"issued"`
}

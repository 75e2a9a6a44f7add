// Package outbox is the agent's durable event queue: every event the agent
// reports waits on disk, numbered, until the gateway's ack says it is
// stored. A broker's PUBACK is not delivery (brokers drop queued QoS 1
// messages for slow subscribers), so nothing leaves the outbox for any other
// reason than the gateway's ack or the drop policy below.
//
// # Sequence numbers
//
// Append gives each event the next sequence number of the device, from 1.
// Numbers survive restarts and compaction: every segment starts with a
// header that carries the highest number ever used, so the number after a
// restart is always greater than any ever used, even when every event was
// acknowledged and compacted away. An ack for a number the outbox never
// used (the state directory was lost, the gateway remembers the device)
// raises the counter past it, so the gateway never takes new events for
// duplicates.
//
// # Bound and drop policy
//
// The files never hold more than maxBytes of segments (a compaction briefly
// needs room for one more copy of the live events). When an append does
// not fit, the outbox compacts; if the live events alone are too many, it
// drops the oldest progress events, down to three quarters of the bound so
// that the next appends do not rewrite the flash again. Each run of dropped
// events is replaced by one info event with Reason ReasonDropped that keeps
// the run's last sequence number and names the first in
// Data[DataFirstSeq], so the gateway still sees every number and its
// highest contiguous ack moves on. Dropped counts them, persistently; the
// agent reports it as State.DroppedEvents. Results, errors and info events
// are never dropped: when only they are left, Append returns ErrFull.
//
// # On disk
//
// The directory holds a lock file and append-only segment files named by a
// 16-digit hexadecimal segment number, "0000000000000001.seg". A segment is
// a sequence of records:
//
//	offset 0  uint32, big endian: payload length n (1 ≤ n ≤ maxPayload)
//	offset 4  uint32, big endian: CRC-32C (Castagnoli) of bytes 0–3 and the payload
//	offset 8  payload: a CBOR map whose "kind" says what it is
//
// The first record of every segment is its header, {"kind": "segment",
// "format": 1, "oldest", "last_seq", "acked", "dropped"}: the state when the
// segment was started, and the oldest segment number that still belongs to
// the log (older files are left over from a compaction and removed). Then
// follow {"kind": "event", "event": <telemetry.Event CBOR>} and {"kind":
// "ack", "seq": n} records. Readers skip kinds they do not know.
//
// A segment is created whole (write a temporary file, fsync, rename, fsync
// the directory), so only the newest segment can end in a torn record after
// a power cut; Open truncates it at the last whole record. Appends are
// fsync'd before Append returns (one fsync for a batch, and one for
// concurrent appends that wait on each other); acks are written without
// fsync, since a lost ack only makes the agent send again what the gateway
// de-duplicates. When the newest segment passes an eighth of the bound a new
// one is started, and segments whose events are all acknowledged are
// deleted: acks never rewrite anything. Only a full outbox rewrites its live
// events into one new segment.
//
// An Outbox is safe for concurrent use. One process at a time may open a
// directory (a lock file says so); ReadStats reads one without opening it.
package outbox

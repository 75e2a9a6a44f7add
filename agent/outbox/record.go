package outbox

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/fxamacker/cbor/v2"

	"patchbay.dev/firmware/telemetry"
)

// Record framing: length, CRC-32C of length and payload, payload.
const (
	frameHeader = 8
	// maxPayload bounds a record's payload: one event document at the
	// telemetry limit plus the envelope around it.
	maxPayload = telemetry.MaxDocumentBytes + 1024
	// format is the version of the segment layout, in every header.
	format = 1
)

// Record kinds, the "kind" of each payload.
const (
	kindSegment = "segment"
	kindEvent   = "event"
	kindAck     = "ack"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn marks a record that is cut short or fails its checksum: the end
// of what a segment holds intact.
var errTorn = errors.New("torn or corrupt record")

// record is the payload of one framed record. Which fields are set depends
// on Kind.
type record struct {
	Kind string `cbor:"kind"`
	// event
	Event cbor.RawMessage `cbor:"event,omitempty"`
	// ack
	Seq uint64 `cbor:"seq,omitempty"`
	// segment header
	Format  int    `cbor:"format,omitempty"`
	Oldest  uint64 `cbor:"oldest,omitempty"`
	LastSeq uint64 `cbor:"last_seq,omitempty"`
	Acked   uint64 `cbor:"acked,omitempty"`
	Dropped uint64 `cbor:"dropped,omitempty"`
}

var (
	recEnc cbor.EncMode
	recDec cbor.DecMode
	// maxHeaderBytes is the framed size of the largest possible header.
	maxHeaderBytes int64
)

func init() {
	var err error
	recEnc, err = cbor.EncOptions{Sort: cbor.SortCoreDeterministic}.EncMode()
	if err != nil {
		panic(err) // fixed options: a failure is a programming error
	}
	recDec, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  12,
		MaxArrayElements: 4096,
		MaxMapPairs:      1024,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsAllowed,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	b, err := frame(record{Kind: kindSegment, Format: format, Oldest: ^uint64(0), LastSeq: ^uint64(0), Acked: ^uint64(0), Dropped: ^uint64(0)})
	if err != nil {
		panic(err)
	}
	maxHeaderBytes = int64(len(b))
}

// frame encodes r as one framed record.
func frame(r record) ([]byte, error) {
	payload, err := recEnc.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode %s record: %w", r.Kind, err)
	}
	if len(payload) > maxPayload {
		return nil, fmt.Errorf("encode %s record: %d bytes exceeds the %d-byte limit", r.Kind, len(payload), maxPayload)
	}
	b := make([]byte, frameHeader+len(payload))
	binary.BigEndian.PutUint32(b[0:4], uint32(len(payload)))
	copy(b[frameHeader:], payload)
	binary.BigEndian.PutUint32(b[4:8], checksum(b[0:4], payload))
	return b, nil
}

// frameEvent encodes ev, whose Seq is set, as an event record.
func frameEvent(ev *telemetry.Event) ([]byte, error) {
	doc, err := telemetry.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("event %d: %w", ev.Seq, err)
	}
	return frame(record{Kind: kindEvent, Event: doc})
}

func checksum(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

// unframe checks one whole framed record held in b (exactly one, as read
// back from a known offset) and returns its payload.
func unframe(b []byte) ([]byte, error) {
	if len(b) < frameHeader {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a frame header", errTorn, len(b))
	}
	n := binary.BigEndian.Uint32(b[0:4])
	if n == 0 || n > maxPayload || int64(n) != int64(len(b)-frameHeader) {
		return nil, fmt.Errorf("%w: length %d in a %d-byte record", errTorn, n, len(b))
	}
	if got, want := checksum(b[0:4], b[frameHeader:]), binary.BigEndian.Uint32(b[4:8]); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", errTorn, got, want)
	}
	return b[frameHeader:], nil
}

// decodeRecord decodes a payload. It checks the envelope only; an event's
// own document is decoded by decodeEvent.
func decodeRecord(payload []byte) (record, error) {
	var r record
	if err := recDec.Unmarshal(payload, &r); err != nil {
		return record{}, fmt.Errorf("decode record: %w", err)
	}
	if r.Kind == "" {
		return record{}, errors.New("decode record: no kind")
	}
	return r, nil
}

// decodeEvent decodes the event document of an event record.
func decodeEvent(r record) (telemetry.Event, error) {
	var ev telemetry.Event
	if len(r.Event) == 0 {
		return ev, errors.New("event record without an event")
	}
	if err := telemetry.Unmarshal(r.Event, &ev); err != nil {
		return ev, err
	}
	if ev.Seq == 0 {
		return ev, errors.New("event without a sequence number")
	}
	return ev, nil
}

// frameReader reads framed records one after the other.
type frameReader struct {
	r   *bufio.Reader
	off int64 // offset of the next record
	buf []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 16<<10)}
}

// next returns the next record's payload, valid until the following call,
// and the offset it starts at. At a clean end it returns io.EOF; at a record
// that is cut short or fails its checksum, an error wrapping errTorn.
func (fr *frameReader) next() (payload []byte, off int64, err error) {
	off = fr.off
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(fr.r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, off, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, off, fmt.Errorf("%w at offset %d: frame header cut short", errTorn, off)
		}
		return nil, off, err
	}
	n := binary.BigEndian.Uint32(hdr[0:4])
	if n == 0 || n > maxPayload {
		return nil, off, fmt.Errorf("%w at offset %d: length %d", errTorn, off, n)
	}
	if cap(fr.buf) < int(n) {
		fr.buf = make([]byte, n)
	}
	fr.buf = fr.buf[:n]
	if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, off, fmt.Errorf("%w at offset %d: %d-byte payload cut short", errTorn, off, n)
		}
		return nil, off, err
	}
	if got, want := checksum(hdr[0:4], fr.buf), binary.BigEndian.Uint32(hdr[4:8]); got != want {
		return nil, off, fmt.Errorf("%w at offset %d: checksum %08x, want %08x", errTorn, off, got, want)
	}
	fr.off += frameHeader + int64(n)
	return fr.buf, off, nil
}

package outbox

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/firmware/telemetry"
)

// recordTable is shared by the encoder and decoder tests: each record with
// its framed bytes, annotated.
var recordTable = []struct {
	name string
	rec  record
	hex  string
}{
	{
		name: "ack",
		rec:  record{Kind: kindAck, Seq: 5},
		hex: "0000000f" + // payload length 15
			"55ebe47b" + // CRC-32C of length and payload
			"a2" + // map(2), keys in core deterministic order
			"63736571" + "05" + // "seq": 5
			"646b696e64" + "6361636b", // "kind": "ack"
	},
	{
		name: "segment header",
		rec:  record{Kind: kindSegment, Format: 1, Oldest: 1, LastSeq: 2, Acked: 1},
		hex: "0000002f" + // payload length 47
			"5d2e1c62" + // CRC-32C
			"a5" + // map(5); "dropped": 0 is left out
			"646b696e64" + "677365676d656e74" + // "kind": "segment"
			"6561636b6564" + "01" + // "acked": 1
			"66666f726d6174" + "01" + // "format": 1
			"666f6c64657374" + "01" + // "oldest": 1
			"686c6173745f736571" + "02", // "last_seq": 2
	},
}

func TestFrameTable(t *testing.T) {
	for _, tt := range recordTable {
		t.Run(tt.name, func(t *testing.T) {
			want, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			got, err := frame(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("frame(%+v) = %x, want %x", tt.rec, got, want)
			}
			payload, err := unframe(want)
			if err != nil {
				t.Fatalf("unframe: %v", err)
			}
			rec, err := decodeRecord(payload)
			if err != nil {
				t.Fatalf("decodeRecord: %v", err)
			}
			if diff := cmp.Diff(tt.rec, rec); diff != "" {
				t.Errorf("decoded record (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnframeRejects(t *testing.T) {
	good, err := hex.DecodeString(recordTable[0].hex)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"header only", good[:frameHeader]},
		{"cut payload", good[:len(good)-1]},
		{"extra byte", append(bytes.Clone(good), 0)},
		{"length flipped", flip(3)},
		{"checksum flipped", flip(7)},
		{"payload flipped", flip(len(good) - 1)},
		{"zeros", make([]byte, 16)},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := unframe(tt.b); !errors.Is(err, errTorn) {
				t.Errorf("unframe(%x) error = %v, want errTorn", tt.b, err)
			}
			// Read as a stream, the bytes end in a torn record (the
			// one extra byte starts a second one), or at once for none.
			fr := newFrameReader(bytes.NewReader(tt.b))
			var err error
			for err == nil {
				_, _, err = fr.next()
			}
			want := errTorn
			if len(tt.b) == 0 {
				want = io.EOF
			}
			if !errors.Is(err, want) {
				t.Errorf("frameReader on %x ends with %v, want %v", tt.b, err, want)
			}
		})
	}
}

func TestEventRecordRoundTrip(t *testing.T) {
	ev := telemetry.Event{Seq: 9, Time: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), Type: telemetry.EventResult,
		Phase: "committed", Target: "openwrt-23.05.3.bin", Data: map[string]string{"slot": "b"}}
	b, err := frameEvent(&ev)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := unframe(b)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := decodeRecord(payload)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeEvent(rec)
	if err != nil {
		t.Fatal(err)
	}
	ev.Schema = telemetry.SchemaVersion
	if diff := cmp.Diff(ev, got); diff != "" {
		t.Errorf("event round trip (-want +got):\n%s", diff)
	}
}

// segmentBytes builds a segment: header, the given events, an ack.
func segmentBytes(tb testing.TB, events ...telemetry.Event) []byte {
	tb.Helper()
	h, err := frame(record{Kind: kindSegment, Format: format, Oldest: 1})
	if err != nil {
		tb.Fatal(err)
	}
	out := h
	for i := range events {
		b, err := frameEvent(&events[i])
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b...)
	}
	ack, err := frame(record{Kind: kindAck, Seq: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return append(out, ack...)
}

func TestScanSegment(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	seg := segmentBytes(t,
		telemetry.Event{Seq: 1, Time: at, Type: telemetry.EventProgress},
		telemetry.Event{Seq: 2, Time: at, Type: telemetry.EventResult},
		telemetry.Event{Seq: 2, Time: at, Type: telemetry.EventError}, // out of sequence: skipped
	)
	unknown, err := frame(record{Kind: "from-the-future"})
	if err != nil {
		t.Fatal(err)
	}
	whole := append(bytes.Clone(seg), unknown...)
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name     string
		data     []byte
		seqs     []uint64
		ack      uint64
		torn     bool
		badHead  bool
		goodSize int
	}{
		{"whole", whole, []uint64{1, 2}, 1, false, false, len(whole)},
		{"torn last byte", whole[:len(whole)-1], []uint64{1, 2}, 1, true, false, len(seg)},
		{"garbage after", append(bytes.Clone(whole), 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 1), []uint64{1, 2}, 1, true, false, len(whole)},
		{"zeros after", append(bytes.Clone(whole), make([]byte, 4096)...), []uint64{1, 2}, 1, true, false, len(whole)},
		{"empty", nil, nil, 0, false, true, 0},
		{"not a header", unknown, nil, 0, false, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := scanSegment(bytes.NewReader(tt.data), "test.seg", log)
			if tt.badHead {
				if !errors.Is(err, errBadHeader) {
					t.Fatalf("scanSegment error = %v, want errBadHeader", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, e := range s.events {
				seqs = append(seqs, e.seq)
			}
			if !cmp.Equal(seqs, tt.seqs) || s.ack != tt.ack || (s.tail != nil) != tt.torn || s.good != int64(tt.goodSize) {
				t.Errorf("scanSegment = seqs %v ack %d tail %v good %d; want seqs %v ack %d torn %v good %d",
					seqs, s.ack, s.tail, s.good, tt.seqs, tt.ack, tt.torn, tt.goodSize)
			}
		})
	}
}

// FuzzScanSegment feeds the segment decoder arbitrary bytes: after a power
// cut a segment is outside bytes. It must not panic, must stop at a whole
// record, and must read that whole-record prefix again the same way.
func FuzzScanSegment(f *testing.F) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	seg := segmentBytes(f,
		telemetry.Event{Seq: 1, Time: at, Type: telemetry.EventProgress, Done: 10, Total: 100},
		telemetry.Event{Seq: 2, Time: at, Type: telemetry.EventResult, Data: map[string]string{"k": "v"}},
	)
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add(seg[:frameHeader+5])
	for _, tt := range recordTable {
		b, _ := hex.DecodeString(tt.hex)
		f.Add(b)
	}
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := scanSegment(bytes.NewReader(data), "fuzz.seg", log)
		if err != nil {
			if !errors.Is(err, errBadHeader) {
				t.Fatalf("scanSegment error = %v, want errBadHeader or none", err)
			}
			return
		}
		if s.good > int64(len(data)) {
			t.Fatalf("good = %d beyond the %d bytes", s.good, len(data))
		}
		again, err := scanSegment(bytes.NewReader(data[:s.good]), "fuzz.seg", log)
		if err != nil || again.tail != nil || again.good != s.good || len(again.events) != len(s.events) {
			t.Fatalf("rescan of the %d-byte whole prefix = %d events, good %d, tail %v, err %v; first scan %d events",
				s.good, len(again.events), again.good, again.tail, err, len(s.events))
		}
		for _, e := range s.events {
			if e.off+e.size > s.good {
				t.Fatalf("event %d at %d+%d beyond good %d", e.seq, e.off, e.size, s.good)
			}
			if _, err := unframe(data[e.off : e.off+e.size]); err != nil {
				t.Fatalf("event %d does not unframe at its offset: %v", e.seq, err)
			}
		}
	})
}

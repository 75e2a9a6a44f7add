package telemetry

import (
	"errors"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-cmp/cmp"
)

func TestTopics(t *testing.T) {
	if got, want := Topic("acme", "rtr-1", KindEvents), "pb/v1/acme/rtr-1/events"; got != want {
		t.Errorf("Topic = %q, want %q", got, want)
	}
	if got, want := Filter("patchbay", KindState), "$share/patchbay/pb/v1/+/+/state"; got != want {
		t.Errorf("Filter = %q, want %q", got, want)
	}
	tests := []struct {
		topic string
		want  DeviceTopic
		ok    bool
	}{
		{"pb/v1/acme/rtr-1/events", DeviceTopic{"acme", "rtr-1", KindEvents}, true},
		{"pb/v1/acme/rtr-1/ack", DeviceTopic{"acme", "rtr-1", KindAck}, true},
		{"pb/v1/acme/rtr-1/secrets", DeviceTopic{}, false},
		{"pb/v1/acme/+/events", DeviceTopic{}, false},
		{"pb/v1/acme/#", DeviceTopic{}, false},
		{"pb/v2/acme/rtr-1/events", DeviceTopic{}, false},
		{"pb/v1/acme/rtr-1/events/extra", DeviceTopic{}, false},
		{"pb/v1//rtr-1/events", DeviceTopic{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTopic(tt.topic)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseTopic(%q) = %+v, %v; want %+v, ok=%v", tt.topic, got, err, tt.want, tt.ok)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	state := &State{
		DeviceID: "rtr-1", Tenant: "acme", Site: "hq", Board: "openwrt-ath79-generic", AgentVersion: "1.0.0",
		Time: at, Seq: 42,
		Inventory: []Component{{ID: "self", Kind: "firmware", Board: "openwrt-ath79-generic", Version: "23.05.2"}},
		Update:    Update{Phase: "committed", LastOutcome: &Outcome{Result: "committed", At: at, ToVersion: "23.05.3"}},
	}
	b, err := Marshal(state)
	if err != nil {
		t.Fatal(err)
	}
	var got State
	if err := Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*state, got); diff != "" {
		t.Errorf("State round trip (-want +got):\n%s", diff)
	}
	ev := &Event{Seq: 7, Time: at, Type: EventProgress, Phase: "downloading", Done: 10, Total: 100}
	b, err = Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var gotEv Event
	if err := Unmarshal(b, &gotEv); err != nil || !cmp.Equal(*ev, gotEv) {
		t.Errorf("Event round trip = %+v, %v; want %+v", gotEv, err, *ev)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	wrongSchema, _ := cbor.Marshal(map[string]any{"schema": 2, "seq": 1})
	noSchema, _ := cbor.Marshal(map[string]any{"seq": 1})
	dup := []byte{0xa2, 0x63, 's', 'e', 'q', 0x01, 0x63, 's', 'e', 'q', 0x02}
	tests := []struct {
		name string
		data []byte
		is   error
	}{
		{"schema 2", wrongSchema, ErrSchema},
		{"no schema", noSchema, ErrSchema},
		{"duplicate key", dup, nil},
		{"truncated", []byte{0xa1, 0x63, 's'}, nil},
		{"not a map", []byte{0x01}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev Event
			err := Unmarshal(tt.data, &ev)
			if err == nil {
				t.Fatal("Unmarshal succeeded, want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Unmarshal error = %v, want %v", err, tt.is)
			}
		})
	}
}

func TestUnknownFieldsTolerated(t *testing.T) {
	b, _ := cbor.Marshal(map[string]any{"schema": 1, "seq": 3, "from_the_future": "x"})
	var ev Event
	if err := Unmarshal(b, &ev); err != nil || ev.Seq != 3 {
		t.Errorf("Unmarshal = %+v, %v; want seq 3 and no error", ev, err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range []any{
		&State{DeviceID: "d", Time: at, Inventory: []Component{{ID: "x"}}},
		&Event{Seq: 1, Type: EventResult, Data: map[string]string{"k": "v"}},
		&Desired{Revision: 2, Policy: DesiredPolicy{Windows: []DesiredWindow{{Cron: "0 2 * * *"}}}},
	} {
		b, _ := cbor.Marshal(d)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s State
		_ = Unmarshal(data, &s)
		var e Event
		_ = Unmarshal(data, &e)
		var d Desired
		_ = Unmarshal(data, &d)
		var c Command
		_ = Unmarshal(data, &c)
		var a Ack
		_ = Unmarshal(data, &a)
	})
}

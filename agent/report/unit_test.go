package report

import (
	"strings"
	"testing"
	"time"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/outbox"
)

func TestResendFrom(t *testing.T) {
	const after = 30 * time.Second
	tests := []struct {
		name        string
		sent, acked uint64
		quiet       time.Duration
		want        uint64
	}{
		{"nothing sent yet", 0, 0, time.Hour, 0},
		{"all acknowledged", 10, 10, time.Hour, 10},
		{"waiting for the ack", 10, 4, after - time.Second, 10},
		{"no ack for too long", 10, 4, after, 4},
		{"ack ahead of what this connection sent", 3, 7, 0, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resendFrom(tt.sent, tt.acked, tt.quiet, after); got != tt.want {
				t.Errorf("resendFrom(%d, %d, %v, %v) = %d, want %d", tt.sent, tt.acked, tt.quiet, after, got, tt.want)
			}
		})
	}
}

// TestResendBackoff walks a resendTimer through rounds of the sender: the
// wait doubles with each re-send that brings no ack, up to the cap, and an
// ack that moves starts it over.
func TestResendBackoff(t *testing.T) {
	const base = 30 * time.Second
	type round struct {
		sent, acked uint64
		quiet       time.Duration
		wantFrom    uint64
		wantWait    time.Duration // after the round
	}
	tests := []struct {
		name   string
		rounds []round
	}{
		{"no ack: the wait doubles", []round{
			{10, 0, base - time.Second, 10, base}, // waiting
			{10, 0, base, 0, 2 * base},            // sent again
			{10, 0, base, 10, 2 * base},           // not yet: the wait is longer now
			{10, 0, 2 * base, 0, 4 * base},
			{10, 0, 4 * base, 0, 8 * base},
		}},
		{"capped", []round{
			{10, 4, base, 4, 2 * base},
			{10, 4, 2 * base, 4, 4 * base},
			{10, 4, 4 * base, 4, 8 * base},
			{10, 4, 8 * base, 4, MaxResendAfter},
			{10, 4, MaxResendAfter, 4, MaxResendAfter},
		}},
		{"an ack that moves starts over", []round{
			{10, 0, base, 0, 2 * base},
			{10, 0, 2 * base, 0, 4 * base},
			{10, 3, time.Second, 10, base}, // the gateway caught up a little
			{10, 3, base, 3, 2 * base},
		}},
		{"the same ack again changes nothing", []round{
			{10, 3, base, 3, 2 * base},
			{10, 3, base, 10, 2 * base},
		}},
		{"all acknowledged", []round{
			{10, 10, time.Hour, 10, base},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newResendTimer(base)
			for i, r := range tt.rounds {
				if got := rt.from(r.sent, r.acked, r.quiet); got != r.wantFrom || rt.wait != r.wantWait {
					t.Errorf("round %d: from(%d, %d, %v) = %d, wait %v; want %d, wait %v", i, r.sent, r.acked, r.quiet, got, rt.wait, r.wantFrom, r.wantWait)
				}
			}
		})
	}
	if rt := newResendTimer(2 * MaxResendAfter); rt.limit != 2*MaxResendAfter {
		t.Errorf("newResendTimer(%v).limit = %v: a configured wait beyond the cap is kept", 2*MaxResendAfter, rt.limit)
	}
}

func TestNewRejects(t *testing.T) {
	ob, err := outbox.Open(t.TempDir(), outbox.MinBytes, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	good := Options{Tenant: tenant, DeviceID: device, Outbox: ob, Handler: &fakeHandler{},
		Broker: config.Broker{URL: "tcp://127.0.0.1:1883", KeepAlive: config.Duration(time.Minute)}}
	if _, err := New(good); err != nil {
		t.Fatalf("New(good) = %v", err)
	}
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"bad device", func(o *Options) { o.DeviceID = "a/b" }, "must be ids"},
		{"wildcard tenant", func(o *Options) { o.Tenant = "+" }, "must be ids"},
		{"no URL", func(o *Options) { o.Broker.URL = "" }, "broker.url"},
		{"no outbox", func(o *Options) { o.Outbox = nil }, "outbox"},
		{"no handler", func(o *Options) { o.Handler = nil }, "handler"},
		{"no keepalive", func(o *Options) { o.Broker.KeepAlive = 0 }, "keepalive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.change(&o)
			if _, err := New(o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestClientIDUniquePerDevice(t *testing.T) {
	// '-' may appear in both ids; the separator may not.
	if a, b := ClientID("a-b", "c"), ClientID("a", "b-c"); a == b {
		t.Errorf("ClientID collides: %q", a)
	}
	if got, want := ClientID("acme", "rtr-1"), "pb:acme:rtr-1"; got != want {
		t.Errorf("ClientID = %q, want %q", got, want)
	}
}

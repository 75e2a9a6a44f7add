package report

import (
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-cmp/cmp"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/outbox"
	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/testbench/services"
)

func TestOnlineStateRetained(t *testing.T) {
	broker := services.StartMosquitto(t, services.MosquittoConfig{})
	st := telemetry.State{Site: "hq", Board: "openwrt-ath79-generic", AgentVersion: "1.0.0",
		Update: telemetry.Update{Phase: "idle"}, Inventory: []telemetry.Component{{ID: "self", Kind: "firmware", Version: "23.05.2"}}}
	a := startAgent(t, agentOptions{broker: config.Broker{URL: broker.URL}, state: &st})
	a.emit(t, telemetry.EventInfo, 1)
	waitOutbox(t, a.ob, "the event numbered", func(s outbox.Stats) bool { return s.LastSeq == 1 })

	// Once the agent is connected a second gateway subscribes: what it
	// sees must come from the retained messages.
	first := startGateway(t, broker.URL, nil, false)
	first.waitFor(t, "online and state", func() bool { return len(first.status) > 0 && len(first.states) > 0 })
	g := startGateway(t, broker.URL, nil, false)
	g.waitFor(t, "retained online and state", func() bool {
		return len(g.status) > 0 && len(g.states) > 0
	})
	g.mu.Lock()
	status, got := g.status[0], g.states[len(g.states)-1]
	g.mu.Unlock()
	if status != (statusMsg{telemetry.Online, true}) {
		t.Errorf("status = %+v, want retained %q", status, telemetry.Online)
	}
	want := st
	want.Schema, want.Tenant, want.DeviceID, want.Time, want.Seq = telemetry.SchemaVersion, tenant, device, got.Time, 1
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("retained state (-want +got):\n%s", diff)
	}
	if got.Time.IsZero() {
		t.Error("state published without a time")
	}

	// A new state is published at once, with the outbox's counters.
	st.Update.Phase = "downloading"
	if err := a.r.PublishState(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	g.waitFor(t, "the new state", func() bool {
		s := g.states[len(g.states)-1]
		return s.Update.Phase == "downloading" && s.Seq == 1
	})
}

func TestLastWillWhenConnectionCut(t *testing.T) {
	broker := services.StartMosquitto(t, services.MosquittoConfig{})
	p := startProxy(t, broker.Addr)
	g := startGateway(t, broker.URL, nil, false)
	startAgent(t, agentOptions{broker: config.Broker{URL: p.URL()}})
	g.waitFor(t, "online", func() bool { return g.lastStatus().payload == telemetry.Online })
	g.mu.Lock()
	cut := len(g.status)
	g.mu.Unlock()
	p.Cut()
	// The agent reconnects within a second or two: look for the will in
	// what came after the cut, then for the agent back online.
	g.waitFor(t, "offline from the last will, then online", func() bool {
		i := slices.IndexFunc(g.status[cut:], func(m statusMsg) bool { return m.payload == telemetry.Offline })
		return i >= 0 && slices.ContainsFunc(g.status[cut+i:], func(m statusMsg) bool { return m.payload == telemetry.Online })
	})
}

func TestCleanShutdownPublishesOffline(t *testing.T) {
	broker := services.StartMosquitto(t, services.MosquittoConfig{})
	g := startGateway(t, broker.URL, nil, false)
	goroutines := runtime.NumGoroutine()
	a := startAgent(t, agentOptions{broker: config.Broker{URL: broker.URL}})
	g.waitFor(t, "online", func() bool { return g.lastStatus().payload == telemetry.Online })
	a.stop()
	g.waitFor(t, "offline", func() bool { return g.lastStatus().payload == telemetry.Offline })
	// Run owns its goroutines: they are gone once it returned (paho's
	// own wind down within moments of Disconnect).
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Run returned, %d before it started:\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	late := startGateway(t, broker.URL, nil, false)
	late.waitFor(t, "retained offline", func() bool { return late.lastStatus() == statusMsg{telemetry.Offline, true} })
}

// TestEventsLeaveOnlyOnAck checks that a PUBACK does not empty the outbox:
// only the gateway's ack does, and unacknowledged events are sent again.
func TestEventsLeaveOnlyOnAck(t *testing.T) {
	broker := services.StartMosquitto(t, services.MosquittoConfig{})
	g := startGateway(t, broker.URL, nil, false)
	a := startAgent(t, agentOptions{broker: config.Broker{URL: broker.URL}, resendAfter: 500 * time.Millisecond})
	var want []telemetry.Event
	for i := range 5 {
		want = append(want, a.emit(t, telemetry.EventProgress, i))
	}
	g.waitFor(t, "events 1–5 twice (sent, then sent again without an ack)", func() bool {
		for seq := uint64(1); seq <= 5; seq++ {
			if g.receipts[seq] < 2 {
				return false
			}
		}
		return true
	})
	if st := a.ob.Stats(); st.Pending != 5 || st.Acked != 0 {
		t.Fatalf("outbox before the ack = %+v, want 5 pending", st)
	}
	g.mu.Lock()
	for _, ev := range want {
		if diff := cmp.Diff(ev, g.events[ev.Seq]); diff != "" {
			t.Errorf("event %d as received (-outbox +gateway):\n%s", ev.Seq, diff)
		}
	}
	g.mu.Unlock()
	g.ack(t, 3)
	waitOutbox(t, a.ob, "ack 3", func(s outbox.Stats) bool { return s.Acked == 3 && s.Pending == 2 })
	g.ack(t, 5)
	waitOutbox(t, a.ob, "ack 5", func(s outbox.Stats) bool { return s.Acked == 5 && s.Pending == 0 })
}

// TestResendBacksOff checks that events the gateway does not acknowledge
// are sent again ever less often, and as often as at first once the ack
// moves.
func TestResendBacksOff(t *testing.T) {
	const resendAfter = 100 * time.Millisecond
	broker := services.StartMosquitto(t, services.MosquittoConfig{})
	g := startGateway(t, broker.URL, nil, false)
	a := startAgent(t, agentOptions{broker: config.Broker{URL: broker.URL}, resendAfter: resendAfter})
	for i := range 3 {
		a.emit(t, telemetry.EventProgress, i)
	}
	g.waitFor(t, "event 1", func() bool { return g.receipts[1] > 0 })
	// Waits of 0.1, 0.2, 0.4, 0.8 and 1.6 s: event 2 arrives 6 times in
	// 3.5 s (without a back-off, about 30 times).
	time.Sleep(35 * resendAfter)
	g.mu.Lock()
	n := g.receipts[2]
	g.mu.Unlock()
	if n < 3 || n > 9 {
		t.Errorf("event 2 arrived %d times in %v without an ack, want about 6 (waits doubling from %v)", n, 35*resendAfter, resendAfter)
	}
	// The ack moves: the wait starts over, and event 2 comes again well
	// before the 3.2 s the doubled wait would have been.
	g.ack(t, 1)
	acked := time.Now()
	g.waitFor(t, "event 2 again after the ack", func() bool { return g.receipts[2] > n })
	if d := time.Since(acked); d > 15*resendAfter {
		t.Errorf("event 2 came again %v after the ack moved, want about %v", d, resendAfter)
	}
}

// TestBrokerRestart kills the broker, produces events while it is down and
// checks that after its restart every event arrives as the outbox holds it.
func TestBrokerRestart(t *testing.T) {
	broker := services.StartMosquitto(t, services.MosquittoConfig{})
	g := startGateway(t, broker.URL, nil, true)
	a := startAgent(t, agentOptions{broker: config.Broker{URL: broker.URL}, resendAfter: time.Second})
	want := map[uint64]telemetry.Event{}
	emit := func(typ string, n int) {
		for i := range n {
			ev := a.emit(t, typ, len(want)+i)
			want[ev.Seq] = ev
		}
	}
	emit(telemetry.EventProgress, 10)
	waitOutbox(t, a.ob, "the first 10 acknowledged", func(s outbox.Stats) bool { return s.Acked == 10 })

	broker.Kill()
	emit(telemetry.EventProgress, 15)
	emit(telemetry.EventResult, 5)
	broker.Start()

	waitOutbox(t, a.ob, "all 30 acknowledged", func(s outbox.Stats) bool { return s.Acked == 30 && s.Pending == 0 })
	g.mu.Lock()
	defer g.mu.Unlock()
	if diff := cmp.Diff(want, g.events); diff != "" {
		t.Errorf("events at the gateway (-outbox +gateway):\n%s", diff)
	}
}

func TestGatewayMessages(t *testing.T) {
	broker := services.StartMosquitto(t, services.MosquittoConfig{})
	g := startGateway(t, broker.URL, nil, true)
	a := startAgent(t, agentOptions{broker: config.Broker{URL: broker.URL}, resendAfter: time.Second})
	g.waitFor(t, "online", func() bool { return g.lastStatus().payload == telemetry.Online })

	enc := func(d any) []byte {
		b, err := cbor.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cmd := func(id, name string) []byte {
		b, err := telemetry.Marshal(&telemetry.Command{ID: id, Name: name, Issued: at})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name     string
		kind     telemetry.Kind
		payload  []byte
		retained bool
		reason   string // of the error event; "" for none
	}{
		{"garbage command", telemetry.KindCmd, []byte{0xff, 0x00, 0x13}, false, ReasonBadCommand},
		{"command of schema 2", telemetry.KindCmd, enc(map[string]any{"schema": 2, "id": "c0", "name": "reboot"}), false, ReasonBadCommand},
		{"unknown command", telemetry.KindCmd, cmd("c1", "format-disk"), false, ReasonUnknownCommand},
		{"garbage desired", telemetry.KindDesired, []byte("{json?}"), false, ReasonBadDesired},
		{"check-now", telemetry.KindCmd, cmd("c3", telemetry.CmdCheckNow), false, ""},
		{"check-now again", telemetry.KindCmd, cmd("c3", telemetry.CmdCheckNow), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := a.ob.LastSeq()
			g.publish(t, tt.kind, tt.payload, tt.retained)
			if tt.reason == "" {
				return
			}
			g.waitFor(t, "an error event "+tt.reason, func() bool {
				for seq, ev := range g.events {
					if seq > before && ev.Type == telemetry.EventError && ev.Reason == tt.reason {
						return true
					}
				}
				return false
			})
		})
	}
	desired := telemetry.Desired{Revision: 7, Target: "openwrt-23.05.3.bin", Version: "23.05.3"}
	b, err := telemetry.Marshal(&desired)
	if err != nil {
		t.Fatal(err)
	}
	g.publish(t, telemetry.KindDesired, b, true)
	deadline := time.Now().Add(patience)
	for {
		cmds, des := a.h.snapshot()
		if len(des) == 1 && len(cmds) == 1 {
			if cmds[0].ID != "c3" || cmds[0].Name != telemetry.CmdCheckNow {
				t.Errorf("handled command = %+v, want c3 check-now (once)", cmds[0])
			}
			if des[0].Revision != 7 || des[0].Target != desired.Target {
				t.Errorf("handled desired = %+v, want revision 7", des[0])
			}
			break
		}
		if time.Now().After(deadline) || len(cmds) > 1 || len(des) > 1 {
			t.Fatalf("handler got commands %+v and desired %+v; want c3 once and revision 7 once", cmds, des)
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.publish(t, telemetry.KindDesired, nil, true) // clear the retained document

	// A handler's failure is reported too.
	a.h.mu.Lock()
	a.h.commandErr = errors.New("slot b is busy")
	a.h.mu.Unlock()
	g.publish(t, telemetry.KindCmd, cmd("c4", telemetry.CmdRollback), false)
	g.waitFor(t, "an error event "+ReasonCommandFailed, func() bool {
		return slices.ContainsFunc(mapValues(g.events), func(ev telemetry.Event) bool {
			return ev.Reason == ReasonCommandFailed && ev.Message == "slot b is busy" && ev.Data["command_id"] == "c4"
		})
	})
}

// TestRetainedCommandRefused publishes a command retained before the agent
// connects: the broker hands it over with the retain flag, and the agent
// must not run it (it would run again on every connection).
func TestRetainedCommandRefused(t *testing.T) {
	broker := services.StartMosquitto(t, services.MosquittoConfig{})
	g := startGateway(t, broker.URL, nil, true)
	b, err := telemetry.Marshal(&telemetry.Command{ID: "c9", Name: telemetry.CmdReboot, Issued: at})
	if err != nil {
		t.Fatal(err)
	}
	g.publish(t, telemetry.KindCmd, b, true)
	a := startAgent(t, agentOptions{broker: config.Broker{URL: broker.URL}})
	g.waitFor(t, "an error event "+ReasonRetainedCommand, func() bool {
		return slices.ContainsFunc(mapValues(g.events), func(ev telemetry.Event) bool {
			return ev.Reason == ReasonRetainedCommand && ev.Type == telemetry.EventError
		})
	})
	if cmds, _ := a.h.snapshot(); len(cmds) > 0 {
		t.Errorf("handler ran the retained command: %+v", cmds)
	}
}

func mapValues(m map[uint64]telemetry.Event) []telemetry.Event {
	var out []telemetry.Event
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

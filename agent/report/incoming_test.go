package report

import (
	"testing"

	"github.com/fxamacker/cbor/v2"

	"patchbay.dev/agent/config"
	"patchbay.dev/agent/outbox"
	"patchbay.dev/firmware/telemetry"
)

// FuzzGatewayMessage hands the reporter arbitrary cmd, desired and ack
// payloads, as a broken or hostile gateway could send: nothing may panic,
// and whatever the handler is given must be a known command.
func FuzzGatewayMessage(f *testing.F) {
	for _, d := range []any{
		&telemetry.Command{ID: "c1", Name: telemetry.CmdReboot, Issued: at},
		&telemetry.Command{ID: "c2", Name: "format-disk"},
		&telemetry.Desired{Revision: 3, Target: "t.bin", Policy: telemetry.DesiredPolicy{Windows: []telemetry.DesiredWindow{{Cron: "0 2 * * *"}}}},
		&telemetry.Ack{Seq: 2},
	} {
		b, err := cbor.Marshal(d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0), false)
	}
	f.Add([]byte{0xff, 0x00}, uint8(1), true)
	ob, err := outbox.Open(f.TempDir(), 64<<10, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ob.Close() })
	h := &fakeHandler{}
	r, err := New(Options{Tenant: tenant, DeviceID: device, Outbox: ob, Handler: h,
		Broker: config.Broker{URL: "tcp://127.0.0.1:1", KeepAlive: config.Duration(60e9)}})
	if err != nil {
		f.Fatal(err)
	}
	var d dispatcher
	f.Fuzz(func(t *testing.T, payload []byte, kind uint8, retained bool) {
		switch kind % 3 {
		case 0:
			r.handleCommand(t.Context(), &d, message{topic: r.topics.cmd, payload: payload, retained: retained})
		case 1:
			r.handleDesired(t.Context(), &d, message{topic: r.topics.desired, payload: payload, retained: retained})
		case 2:
			r.onAck(payload)
		}
		cmds, _ := h.snapshot()
		for _, c := range cmds {
			switch c.Name {
			case telemetry.CmdCheckNow, telemetry.CmdInventoryNow, telemetry.CmdReboot, telemetry.CmdRollback:
			default:
				t.Fatalf("handler got unknown command %q", c.Name)
			}
		}
	})
}

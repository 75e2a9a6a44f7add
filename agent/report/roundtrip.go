package report

import (
	"context"
	"fmt"
	"time"

	"patchbay.dev/firmware/telemetry"
)

// ReasonRoundtrip is the Reason of the event a round trip sends.
const ReasonRoundtrip = "health-roundtrip"

// Roundtrip proves the gateway can be reached end to end: it emits an info
// event and waits until the gateway's ack covers it, that is until the
// gateway has stored it. A trial boot commits only after this succeeds.
// The deadline comes from ctx.
func (r *Reporter) Roundtrip(ctx context.Context) error {
	seq, err := r.Emit(ctx, telemetry.Event{Time: time.Now().UTC(), Type: telemetry.EventInfo, Reason: ReasonRoundtrip,
		Message: "round trip to the gateway"})
	if err != nil {
		return fmt.Errorf("round trip: %w", err)
	}
	for {
		r.mu.Lock()
		if r.ob.Acked() >= seq {
			r.mu.Unlock()
			return nil
		}
		if r.ackMoved == nil {
			r.ackMoved = make(chan struct{})
		}
		moved := r.ackMoved
		r.mu.Unlock()
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("round trip: event %d not acknowledged by the gateway: %w", seq, ctx.Err())
		}
	}
}

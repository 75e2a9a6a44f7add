package ingest

import (
	"bytes"
	"context"
	"fmt"

	"patchbay.dev/firmware/telemetry"
)

// InlineBroker is a broker in the gateway's own process (gateway/broker):
// it calls fn for every message on a topic matching filter, on the
// publishing client's goroutine, and for retained messages at once.
type InlineBroker interface {
	Subscribe(filter string, fn func(topic string, payload []byte)) error
}

// SubscribeInline delivers every status, state and event message of b to
// in until ctx ends. in.Run must be running: retained messages arrive
// during the call. While in's queue is full, the devices publishing wait.
// A message that arrives after ctx ended is not handled; its device sends
// it again (events stay in its outbox until acknowledged; status and
// state are retained and re-sent on reconnect).
func SubscribeInline(ctx context.Context, b InlineBroker, in *Ingester) error {
	for _, k := range Kinds {
		// The one gateway of an embedded broker needs no shared
		// subscription.
		filter := telemetry.Filter("", k)
		err := b.Subscribe(filter, func(topic string, payload []byte) {
			m := Message{Topic: topic, Payload: bytes.Clone(payload)}
			if err := in.Deliver(ctx, m); err != nil {
				in.log.Debug("message not delivered", "topic", topic, "error", err)
			}
		})
		if err != nil {
			return fmt.Errorf("ingest from the embedded broker: %w", err)
		}
	}
	return nil
}

package ingest

import (
	"context"
	"fmt"
	"time"

	"patchbay.dev/firmware/telemetry"
)

const (
	// ackTimeout bounds the wait for the broker to take a batch's acks:
	// the events are stored, and the next events of a device publish a
	// new one.
	ackTimeout = 10 * time.Second
	// maxAckWaits bounds the batches whose acks may be on their way to
	// the broker at once (each ack holds one of paho's 65,535 message
	// ids until the broker takes it).
	maxAckWaits = 16
)

// ackWait is a batch's acks on their way to the broker.
type ackWait struct {
	acks []pendingAck
	wait func(context.Context) []error
}

// publishAcks publishes acks, all at once. Through an AsyncPublisher it
// does not wait for the broker: it hands the wait to waits, for settle,
// and waits only while waits is full. An ack that fails is published
// again with the device's next events.
func (in *Ingester) publishAcks(ctx context.Context, acks []pendingAck, now time.Time, waits chan<- ackWait) {
	msgs, sent := make([]Publication, 0, len(acks)), make([]pendingAck, 0, len(acks))
	for _, a := range acks {
		payload, err := telemetry.Marshal(&telemetry.Ack{Seq: a.seq, Time: now})
		if err != nil {
			in.record([]pendingAck{a}, []error{fmt.Errorf("encode: %w", err)})
			continue
		}
		msgs = append(msgs, Publication{Topic: telemetry.Topic(a.key.tenant, a.key.device, telemetry.KindAck), Payload: payload, Retain: true})
		sent = append(sent, a)
	}
	if len(sent) == 0 {
		return
	}
	acks = sent
	ap, ok := in.pub.(AsyncPublisher)
	if !ok {
		pctx, cancel := context.WithTimeout(ctx, ackTimeout)
		defer cancel()
		errs := make([]error, len(msgs))
		for i, m := range msgs {
			errs[i] = in.pub.Publish(pctx, m.Topic, m.Payload, m.Retain)
		}
		in.record(acks, errs)
		return
	}
	w := ackWait{acks: acks, wait: ap.PublishAsync(msgs)}
	select {
	case waits <- w:
	case <-ctx.Done():
		in.record(acks, w.wait(ctx)) // ctx's error for those still on their way
	}
}

// settle waits for a batch's acks to reach the broker and records the
// outcome.
func (in *Ingester) settle(ctx context.Context, w ackWait) {
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	in.record(w.acks, w.wait(ctx))
}

// record counts published and failed acks (errs[i] for acks[i]) and
// notes the published ones, so that they are not published again
// unless a device sends again what its ack covers.
func (in *Ingester) record(acks []pendingAck, errs []error) {
	var failed []error
	for i, a := range acks {
		if errs[i] != nil {
			failed = append(failed, fmt.Errorf("ack %d of %s/%s: %w", a.seq, a.key.tenant, a.key.device, errs[i]))
			continue
		}
		a.known.setPublished(a.seq)
	}
	in.c.acks.Add(int64(len(acks) - len(failed)))
	if len(failed) > 0 {
		in.c.ackErrors.Add(int64(len(failed)))
		in.log.Warn("acks not published; will publish with the next events", "acks", len(failed), "error", failed[0])
	}
}

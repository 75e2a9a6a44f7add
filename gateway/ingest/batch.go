package ingest

import (
	"context"
	"fmt"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

// ackTimeout bounds the wait for the broker to take an ack: the events are
// stored, and the next events of the device publish a new one.
const ackTimeout = 10 * time.Second

// deviceEvents are the events of one device in a batch, with the
// messages that carried them.
type deviceEvents struct {
	key    deviceKey
	events []telemetry.Event
	msgs   []int // indexes into the batch
}

// handle stores a batch and then acknowledges its messages, in the order
// they came. It returns an error only when ctx ended before everything was
// stored; then it acknowledges nothing, and the broker delivers the batch
// again (which changes nothing for what was stored).
func (in *Ingester) handle(ctx context.Context, batch []Message, now time.Time) error {
	var byDevice []*deviceEvents
	index := map[deviceKey]*deviceEvents{}
	for i, m := range batch {
		t, err := telemetry.ParseTopic(m.Topic)
		if err != nil {
			in.malformed(m, err)
			continue
		}
		key := deviceKey{t.Tenant, t.Device}
		switch t.Kind {
		case telemetry.KindStatus:
			err = in.putStatus(ctx, key, string(m.Payload), now)
		case telemetry.KindState:
			err = in.putState(ctx, key, m.Payload, now)
		case telemetry.KindEvents:
			var ev telemetry.Event
			if err = telemetry.Unmarshal(m.Payload, &ev); err == nil {
				err = store.CheckEvents(key.tenant, key.device, []telemetry.Event{ev}, now)
			}
			if err == nil {
				de := index[key]
				if de == nil {
					de = &deviceEvents{key: key}
					index[key] = de
					byDevice = append(byDevice, de)
				}
				de.events = append(de.events, ev)
				de.msgs = append(de.msgs, i)
				continue
			}
		default:
			err = fmt.Errorf("the gateway does not ingest %q messages", t.Kind)
		}
		if err != nil && ctx.Err() != nil {
			return err
		}
		if err != nil {
			in.malformed(m, err)
		}
	}
	for _, de := range byDevice {
		if err := in.addEvents(ctx, de, now); err != nil {
			if ctx.Err() != nil {
				return err
			}
			for _, i := range de.msgs {
				in.malformed(batch[i], err)
			}
		}
	}
	for _, m := range batch {
		if m.Ack != nil {
			m.Ack()
		}
	}
	return nil
}

func (in *Ingester) malformed(m Message, err error) {
	in.c.malformed.Add(1)
	in.log.Warn("malformed message dropped", "topic", m.Topic, "bytes", len(m.Payload), "error", err)
}

func (in *Ingester) putStatus(ctx context.Context, key deviceKey, status string, now time.Time) error {
	if err := store.CheckStatus(key.tenant, key.device, status, now); err != nil {
		return err
	}
	err := in.retry(ctx, "put status", func() error {
		return in.store.PutStatus(ctx, key.tenant, key.device, status, now)
	})
	if err == nil {
		in.c.statuses.Add(1)
		in.log.Debug("status stored", "tenant", key.tenant, "device_id", key.device, "status", status)
	}
	return err
}

func (in *Ingester) putState(ctx context.Context, key deviceKey, payload []byte, now time.Time) error {
	var st telemetry.State
	if err := telemetry.Unmarshal(payload, &st); err != nil {
		return err
	}
	if st.Tenant == "" {
		st.Tenant = key.tenant
	}
	if st.DeviceID == "" {
		st.DeviceID = key.device
	}
	if st.Tenant != key.tenant || st.DeviceID != key.device {
		return fmt.Errorf("state of device %s/%s on the topic of %s/%s", st.Tenant, st.DeviceID, key.tenant, key.device)
	}
	if err := store.CheckState(st, now); err != nil {
		return err
	}
	err := in.retry(ctx, "put state", func() error { return in.store.PutState(ctx, st, now) })
	if err == nil {
		in.c.states.Add(1)
		in.log.Debug("state stored", "tenant", key.tenant, "device_id", key.device, "phase", st.Update.Phase)
	}
	return err
}

// addEvents stores one device's events of a batch and publishes its ack.
func (in *Ingester) addEvents(ctx context.Context, de *deviceEvents, now time.Time) error {
	known, err := in.acks(ctx, de.key, now)
	if err != nil {
		return err
	}
	dups, seen := 0, map[uint64]bool{}
	for _, ev := range de.events {
		if ev.Seq <= known.stored || seen[ev.Seq] {
			dups++
		}
		seen[ev.Seq] = true
	}
	var ackSeq uint64
	err = in.retry(ctx, "add events", func() error {
		var err error
		ackSeq, err = in.store.AddEvents(ctx, de.key.tenant, de.key.device, de.events, now)
		return err
	})
	if err != nil {
		return err
	}
	in.c.stored.Add(int64(len(de.events) - dups))
	in.c.duplicates.Add(int64(dups))
	known.stored = max(known.stored, ackSeq)
	in.log.Debug("events stored", "tenant", de.key.tenant, "device_id", de.key.device,
		"events", len(de.events), "duplicates", dups, "ack", ackSeq)
	// Publish when the ack advanced, and when the device re-sent events the
	// ack already covers: it evidently has not seen the ack.
	if ackSeq > known.published || (dups > 0 && ackSeq > 0) {
		in.publishAck(ctx, de.key, ackSeq, known, now)
	}
	return nil
}

// acks returns what the ingester knows of a device's acks, asking the
// store on first sight.
func (in *Ingester) acks(ctx context.Context, key deviceKey, now time.Time) (*deviceAcks, error) {
	if known := in.devices[key]; known != nil {
		return known, nil
	}
	var stored uint64
	err := in.retry(ctx, "read ack", func() error {
		var err error
		stored, err = in.store.AddEvents(ctx, key.tenant, key.device, nil, now) // stores nothing
		return err
	})
	if err != nil {
		return nil, err
	}
	known := &deviceAcks{stored: stored}
	in.devices[key] = known
	return known, nil
}

func (in *Ingester) publishAck(ctx context.Context, key deviceKey, seq uint64, known *deviceAcks, now time.Time) {
	payload, err := telemetry.Marshal(&telemetry.Ack{Seq: seq, Time: now})
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, ackTimeout)
		err = in.pub.Publish(pctx, telemetry.Topic(key.tenant, key.device, telemetry.KindAck), payload, true)
		cancel()
	}
	if err != nil {
		in.c.ackErrors.Add(1)
		in.log.Warn("ack not published; will publish with the next events", "tenant", key.tenant, "device_id", key.device, "ack", seq, "error", err)
		return
	}
	in.c.acks.Add(1)
	known.published = max(known.published, seq)
}

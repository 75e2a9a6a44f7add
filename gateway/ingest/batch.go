package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

// parsed is a batch sorted by what the store does with it: statuses and
// states in the order they came, and events by device, each with the
// indexes of the messages that carried them.
type parsed struct {
	statuses   []store.DeviceStatus
	statusMsgs []int
	states     []telemetry.State
	stateMsgs  []int
	devices    []*deviceEvents
}

// deviceEvents are the events of one device in a batch, with the
// messages that carried them.
type deviceEvents struct {
	key    deviceKey
	events []telemetry.Event
	msgs   []int // indexes into the batch
}

// handle stores a batch: statuses, states and events each with one store
// call (one transaction) for the whole batch. It returns the acks to
// publish, or an error only when ctx ended before everything was stored;
// then nothing is to be acknowledged, and the broker delivers the batch
// again (which changes nothing for what was stored).
func (in *Ingester) handle(ctx context.Context, batch []Message, now time.Time) ([]pendingAck, error) {
	p := in.parse(batch, now)
	if err := in.putStatuses(ctx, batch, p); err != nil {
		return nil, err
	}
	if err := in.putStates(ctx, batch, p, now); err != nil {
		return nil, err
	}
	return in.addEvents(ctx, batch, p, now)
}

// parse decodes and checks every message of batch; those that are
// malformed are counted and logged, and left out.
func (in *Ingester) parse(batch []Message, now time.Time) *parsed {
	p := &parsed{}
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
			status := string(m.Payload)
			if err = store.CheckStatus(key.tenant, key.device, status, now); err == nil {
				p.statuses = append(p.statuses, store.DeviceStatus{Tenant: key.tenant, Device: key.device, Status: status, At: now})
				p.statusMsgs = append(p.statusMsgs, i)
			}
		case telemetry.KindState:
			var st telemetry.State
			if st, err = decodeState(key, m.Payload, now); err == nil {
				p.states = append(p.states, st)
				p.stateMsgs = append(p.stateMsgs, i)
			}
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
					p.devices = append(p.devices, de)
				}
				de.events = append(de.events, ev)
				de.msgs = append(de.msgs, i)
			}
		default:
			err = fmt.Errorf("the gateway does not ingest %q messages", t.Kind)
		}
		if err != nil {
			in.malformed(m, err)
		}
	}
	return p
}

// decodeState decodes a state document from the topic of key.
func decodeState(key deviceKey, payload []byte, now time.Time) (telemetry.State, error) {
	var st telemetry.State
	if err := telemetry.Unmarshal(payload, &st); err != nil {
		return st, err
	}
	if st.Tenant == "" {
		st.Tenant = key.tenant
	}
	if st.DeviceID == "" {
		st.DeviceID = key.device
	}
	if st.Tenant != key.tenant || st.DeviceID != key.device {
		return st, fmt.Errorf("state of device %s/%s on the topic of %s/%s", st.Tenant, st.DeviceID, key.tenant, key.device)
	}
	return st, store.CheckState(st, now)
}

func (in *Ingester) malformed(m Message, err error) {
	in.c.malformed.Add(1)
	in.log.Warn("malformed message dropped", "topic", m.Topic, "bytes", len(m.Payload), "error", err)
}

// refused counts and logs the messages of a batch whose entries the store
// refused (refused[i] for the message msgs[i]) and returns how many
// entries it stored.
func (in *Ingester) refused(batch []Message, msgs []int, refused []error) int {
	stored := len(msgs)
	for i, err := range refused {
		if err != nil {
			in.malformed(batch[msgs[i]], err)
			stored--
		}
	}
	return stored
}

// putStatuses stores the batch's statuses with one store call.
func (in *Ingester) putStatuses(ctx context.Context, batch []Message, p *parsed) error {
	if len(p.statuses) == 0 {
		return nil
	}
	var refused []error
	err := in.retry(ctx, "put statuses", func() error {
		var err error
		refused, err = in.store.PutStatusBatch(ctx, p.statuses)
		return err
	})
	if err != nil {
		return in.givenUp(ctx, batch, p.statusMsgs, err)
	}
	n := in.refused(batch, p.statusMsgs, refused)
	in.c.statuses.Add(int64(n))
	in.log.Debug("statuses stored", "statuses", n)
	return nil
}

// putStates stores the batch's state documents with one store call.
func (in *Ingester) putStates(ctx context.Context, batch []Message, p *parsed, now time.Time) error {
	if len(p.states) == 0 {
		return nil
	}
	var refused []error
	err := in.retry(ctx, "put states", func() error {
		var err error
		refused, err = in.store.PutStateBatch(ctx, p.states, now)
		return err
	})
	if err != nil {
		return in.givenUp(ctx, batch, p.stateMsgs, err)
	}
	n := in.refused(batch, p.stateMsgs, refused)
	in.c.states.Add(int64(n))
	in.log.Debug("states stored", "states", n)
	return nil
}

// givenUp handles the error of a store call retry gave up on: ctx's end,
// returned, or a refusal of the whole call (store.ErrInvalid), for which
// its messages count as malformed.
func (in *Ingester) givenUp(ctx context.Context, batch []Message, msgs []int, err error) error {
	if ctx.Err() != nil || !errors.Is(err, store.ErrInvalid) {
		return err
	}
	for _, i := range msgs {
		in.malformed(batch[i], err)
	}
	return nil
}

// pendingAck is an ack to publish to a device.
type pendingAck struct {
	key   deviceKey
	seq   uint64
	known *deviceAcks
}

// addEvents stores the batch's events with one store call and returns the
// acks to publish: to each device whose ack advanced, and to each that
// sent again events its ack already covers (it evidently has not seen
// the ack). A device whose events are all at or below its known ack sent
// them again: they are not stored again, only its ack is published.
func (in *Ingester) addEvents(ctx context.Context, batch []Message, p *parsed, now time.Time) ([]pendingAck, error) {
	var (
		acks    []pendingAck
		entries []store.DeviceEvents
		pending []*deviceEvents
	)
	for _, de := range p.devices {
		if known := in.devices[de.key]; known != nil && known.covers(de.events) {
			in.c.duplicates.Add(int64(len(de.events)))
			acks = append(acks, pendingAck{de.key, known.stored, known})
			continue
		}
		entries = append(entries, store.DeviceEvents{Tenant: de.key.tenant, Device: de.key.device, Events: de.events})
		pending = append(pending, de)
	}
	if len(entries) == 0 {
		return acks, nil
	}
	var results []store.EventsResult
	err := in.retry(ctx, "add events", func() error {
		var err error
		results, err = in.store.AddEventBatch(ctx, entries, now)
		return err
	})
	if err != nil {
		var msgs []int
		for _, de := range pending {
			msgs = append(msgs, de.msgs...)
		}
		return acks, in.givenUp(ctx, batch, msgs, err)
	}
	var stored, dups int
	for i, r := range results {
		de := pending[i]
		if r.Err != nil {
			for _, m := range de.msgs {
				in.malformed(batch[m], r.Err)
			}
			continue
		}
		stored, dups = stored+r.New, dups+len(de.events)-r.New
		known := in.known(de.key)
		known.stored = max(known.stored, r.Ack)
		if r.Ack > known.published.Load() || (r.New < len(de.events) && r.Ack > 0) {
			acks = append(acks, pendingAck{de.key, r.Ack, known})
		}
	}
	in.c.stored.Add(int64(stored))
	in.c.duplicates.Add(int64(dups))
	in.log.Debug("events stored", "devices", len(entries), "events", stored+dups, "duplicates", dups)
	return acks, nil
}

// known returns what the ingester knows of a device's acks.
func (in *Ingester) known(key deviceKey) *deviceAcks {
	known := in.devices[key]
	if known == nil {
		known = &deviceAcks{}
		in.devices[key] = known
	}
	return known
}

// covers reports whether every event is at or below the stored ack.
func (a *deviceAcks) covers(events []telemetry.Event) bool {
	for _, ev := range events {
		if ev.Seq > a.stored {
			return false
		}
	}
	return true
}

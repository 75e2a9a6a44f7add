package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

// lockDevice creates the device's row if it does not exist and locks it
// until the transaction ends, so that AddEvents calls for one device run
// one after the other; it advances last_seen.
const lockDevice = `
	INSERT INTO devices AS d (tenant, id, last_seen) VALUES ($1, $2, $3)
	ON CONFLICT (tenant, id) DO UPDATE SET last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen)`

// insertEvents stores the events ($4…$11, one array per column) that are
// not stored yet and advances ack_seq over every sequence number that is
// now stored: the run starts at the stored ack_seq and each step looks up
// the next sequence number among this call's ($4) or in the table (stored
// by earlier transactions; the rows this statement inserts are not visible
// to it). The LATERAL … LIMIT 1 makes each step one index probe; an EXISTS
// there lets the planner hash every event of the device instead, a cost
// that grows with the device's history. The statement runs after
// lockDevice, so its snapshot holds every event of the device that any
// other transaction stored.
const insertEvents = `
	WITH RECURSIVE ins AS (
		INSERT INTO events (tenant, device, seq, time, type, phase, target, reason, message, document, received)
		SELECT $1, $2, e.seq, e.time, e.type, e.phase, e.target, e.reason, e.message, e.document, $3
		FROM unnest($4::bigint[], $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bytea[])
			AS e (seq, time, type, phase, target, reason, message, document)
		ON CONFLICT (tenant, device, seq) DO NOTHING
		RETURNING 1
	), run (s) AS (
		SELECT ack_seq FROM devices WHERE tenant = $1 AND id = $2
		UNION ALL
		SELECT next.seq FROM run CROSS JOIN LATERAL (
			SELECT b.seq FROM unnest($4::bigint[]) AS b (seq) WHERE b.seq = run.s + 1
			UNION ALL
			SELECT e.seq FROM events e WHERE e.tenant = $1 AND e.device = $2 AND e.seq = run.s + 1
			LIMIT 1
		) next
	)
	UPDATE devices SET ack_seq = (SELECT max(s) FROM run), event_count = event_count + (SELECT count(*) FROM ins)
	WHERE tenant = $1 AND id = $2
	RETURNING ack_seq`

// AddEvents stores events idempotently and advances the device's
// acknowledged sequence number, in one round trip and one transaction.
func (s *Store) AddEvents(ctx context.Context, tenant, device string, events []telemetry.Event, received time.Time) (uint64, error) {
	if err := store.CheckEvents(tenant, device, events, received); err != nil {
		return 0, err
	}
	events = store.ExpandDropped(events)
	if len(events) == 0 {
		return s.storedAck(ctx, tenant, device)
	}
	// One array per column, for unnest.
	n := len(events)
	seqs, times, docs := make([]int64, n), make([]pgtype.Timestamptz, n), make([][]byte, n)
	types, phases, targets, reasons, messages := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i := range events {
		ev := events[i] // Marshal sets the schema version; leave the caller's slice alone
		doc, err := telemetry.Marshal(&ev)
		if err != nil {
			return 0, fmt.Errorf("add events of %s/%s: event %d: %w", tenant, device, ev.Seq, err)
		}
		seqs[i], times[i], docs[i] = int64(ev.Seq), timestamptz(ev.Time), doc
		types[i], phases[i], targets[i], reasons[i], messages[i] = text(ev.Type), text(ev.Phase), text(ev.Target), text(ev.Reason), text(ev.Message)
	}
	b := &pgx.Batch{}
	b.Queue(lockDevice, tenant, device, timestamptz(received))
	b.Queue(insertEvents, tenant, device, timestamptz(received), seqs, times, types, phases, targets, reasons, messages, docs)
	br := s.pool.SendBatch(ctx, b)
	var ack int64
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&ack)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("add events of %s/%s: %w", tenant, device, err)
	}
	return uint64(ack), nil
}

// storedAck returns a device's acknowledged sequence number, 0 for an
// unknown device.
func (s *Store) storedAck(ctx context.Context, tenant, device string) (uint64, error) {
	var ack int64
	err := s.pool.QueryRow(ctx, "SELECT ack_seq FROM devices WHERE tenant = $1 AND id = $2", tenant, device).Scan(&ack)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("read ack of %s/%s: %w", tenant, device, err)
	}
	return uint64(ack), nil
}

// Events returns a device's events with seq > after, oldest first.
func (s *Store) Events(ctx context.Context, tenant, device string, after uint64, limit int) ([]store.StoredEvent, error) {
	if err := store.CheckDevice(tenant, device); err != nil {
		return nil, err
	}
	limit, err := store.EventsLimit(limit)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx,
		"SELECT seq, received, document FROM events WHERE tenant = $1 AND device = $2 AND seq > $3 ORDER BY seq LIMIT $4",
		tenant, device, int64(min(after, store.MaxSeq)), limit)
	if err != nil {
		return nil, fmt.Errorf("read events of %s/%s: %w", tenant, device, err)
	}
	defer rows.Close()
	var out []store.StoredEvent
	for rows.Next() {
		var (
			seq      int64
			received pgtype.Timestamptz
			doc      []byte
		)
		if err := rows.Scan(&seq, &received, &doc); err != nil {
			return nil, fmt.Errorf("read events of %s/%s: %w", tenant, device, err)
		}
		se := store.StoredEvent{Tenant: tenant, Device: device, Received: fromTimestamptz(received)}
		if err := telemetry.Unmarshal(doc, &se.Event); err != nil {
			return nil, fmt.Errorf("read event %d of %s/%s: %w", seq, tenant, device, err)
		}
		out = append(out, se)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events of %s/%s: %w", tenant, device, err)
	}
	if len(out) == 0 {
		var known bool
		if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM devices WHERE tenant = $1 AND id = $2)",
			tenant, device).Scan(&known); err != nil {
			return nil, fmt.Errorf("read events of %s/%s: %w", tenant, device, err)
		}
		if !known {
			return nil, fmt.Errorf("events of %s/%s: %w", tenant, device, store.ErrNotFound)
		}
	}
	return out, nil
}

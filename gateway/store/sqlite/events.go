package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

// insertChunk is how many events one INSERT statement stores, well under
// SQLite's limit of 32766 bound parameters.
const insertChunk = 256

// eventColumns are the columns AddEvents fills, in the order of eventRow.args.
const eventColumns = "tenant, device, seq, time, type, phase, target, reason, message, document, received"

// AddEvents stores events idempotently in one transaction and advances the
// device's acknowledged sequence number past the gaps they fill. The
// cost of advancing is proportional to how far it advances, not to the
// device's history.
func (s *Store) AddEvents(ctx context.Context, tenant, device string, events []telemetry.Event, received time.Time) (uint64, error) {
	if err := store.CheckEvents(tenant, device, events, received); err != nil {
		return 0, err
	}
	events = store.ExpandDropped(events)
	if len(events) == 0 {
		return s.storedAck(ctx, tenant, device)
	}
	docs := make([][]byte, len(events))
	for i := range events {
		ev := events[i] // Marshal sets the schema version; leave the caller's slice alone
		doc, err := telemetry.Marshal(&ev)
		if err != nil {
			return 0, fmt.Errorf("add events of %s/%s: event %d: %w", tenant, device, ev.Seq, err)
		}
		docs[i] = doc
	}
	var ack int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `
			INSERT INTO devices (tenant, id, last_seen) VALUES (?, ?, ?)
			ON CONFLICT (tenant, id) DO UPDATE SET
				last_seen = max(coalesce(last_seen, excluded.last_seen), excluded.last_seen)
			RETURNING ack_seq`, tenant, device, micros(received)).Scan(&ack); err != nil {
			return fmt.Errorf("upsert device: %w", err)
		}
		var inserted int64
		for start := 0; start < len(events); start += insertChunk {
			end := min(start+insertChunk, len(events))
			args := make([]any, 0, (end-start)*11)
			for i := start; i < end; i++ {
				ev := &events[i]
				args = append(args, tenant, device, int64(ev.Seq), micros(ev.Time), ev.Type, ev.Phase,
					ev.Target, ev.Reason, ev.Message, docs[i], micros(received))
			}
			res, err := tx.ExecContext(ctx, insertEvents(end-start), args...)
			if err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
			inserted += n
		}
		if inserted == 0 {
			return nil // all redelivered: nothing to advance
		}
		next, err := contiguousFrom(ctx, tx, tenant, device, ack)
		if err != nil {
			return err
		}
		ack = next
		if _, err := tx.ExecContext(ctx, "UPDATE devices SET ack_seq = ?, event_count = event_count + ? WHERE tenant = ? AND id = ?",
			ack, inserted, tenant, device); err != nil {
			return fmt.Errorf("update ack: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("add events of %s/%s: %w", tenant, device, err)
	}
	return uint64(ack), nil
}

// insertEvents is an INSERT of n events that skips those stored already.
func insertEvents(n int) string {
	row := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	return "INSERT INTO events (" + eventColumns + ") VALUES " +
		strings.Join(slices.Repeat([]string{row}, n), ", ") +
		" ON CONFLICT (tenant, device, seq) DO NOTHING"
}

// contiguousFrom returns the highest seq such that every event ack+1..seq
// of the device is stored, given that every event 1..ack is. It reads the
// stored sequence numbers above ack in order and stops at the first gap.
func contiguousFrom(ctx context.Context, tx *sql.Tx, tenant, device string, ack int64) (int64, error) {
	rows, err := tx.QueryContext(ctx, "SELECT seq FROM events WHERE tenant = ? AND device = ? AND seq > ? ORDER BY seq",
		tenant, device, ack)
	if err != nil {
		return 0, fmt.Errorf("find gaps: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return 0, fmt.Errorf("find gaps: %w", err)
		}
		if seq != ack+1 {
			break
		}
		ack = seq
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find gaps: %w", err)
	}
	return ack, nil
}

// storedAck returns a device's acknowledged sequence number, 0 for an
// unknown device.
func (s *Store) storedAck(ctx context.Context, tenant, device string) (uint64, error) {
	var ack int64
	err := s.reader.QueryRowContext(ctx, "SELECT ack_seq FROM devices WHERE tenant = ? AND id = ?", tenant, device).Scan(&ack)
	switch {
	case errors.Is(err, sql.ErrNoRows):
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
	rows, err := s.reader.QueryContext(ctx,
		"SELECT seq, received, document FROM events WHERE tenant = ? AND device = ? AND seq > ? ORDER BY seq LIMIT ?",
		tenant, device, int64(min(after, store.MaxSeq)), limit)
	if err != nil {
		return nil, fmt.Errorf("read events of %s/%s: %w", tenant, device, err)
	}
	defer rows.Close()
	var out []store.StoredEvent
	for rows.Next() {
		var (
			seq      int64
			received sql.NullInt64
			doc      []byte
		)
		if err := rows.Scan(&seq, &received, &doc); err != nil {
			return nil, fmt.Errorf("read events of %s/%s: %w", tenant, device, err)
		}
		se := store.StoredEvent{Tenant: tenant, Device: device, Received: fromMicros(received)}
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
		if err := s.reader.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM devices WHERE tenant = ? AND id = ?)",
			tenant, device).Scan(&known); err != nil {
			return nil, fmt.Errorf("read events of %s/%s: %w", tenant, device, err)
		}
		if !known {
			return nil, fmt.Errorf("events of %s/%s: %w", tenant, device, store.ErrNotFound)
		}
	}
	return out, nil
}

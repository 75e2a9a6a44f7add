package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

// AddEvents stores events idempotently in one transaction and advances the
// device's acknowledged sequence number past the gaps they fill. The
// cost of advancing is proportional to how far it advances, not to the
// device's history.
func (s *Store) AddEvents(ctx context.Context, tenant, device string, events []telemetry.Event, received time.Time) (uint64, error) {
	res, err := s.addEventBatch(ctx, []store.DeviceEvents{{Tenant: tenant, Device: device, Events: events}}, received)
	if err != nil {
		return 0, fmt.Errorf("add events of %s/%s: %w", tenant, device, err)
	}
	return res[0].Ack, res[0].Err
}

// AddEventBatch stores the events of many devices in one transaction,
// device by device as AddEvents does.
func (s *Store) AddEventBatch(ctx context.Context, batch []store.DeviceEvents, received time.Time) ([]store.EventsResult, error) {
	res, err := s.addEventBatch(ctx, batch, received)
	if err != nil {
		return nil, fmt.Errorf("add events of %d devices: %w", len(batch), err)
	}
	return res, nil
}

func (s *Store) addEventBatch(ctx context.Context, batch []store.DeviceEvents, received time.Time) ([]store.EventsResult, error) {
	groups, results := store.GroupEvents(batch, received)
	var writes, reads []*store.EventGroup
	for _, g := range groups {
		if len(g.Events) > 0 {
			writes = append(writes, g)
		} else {
			reads = append(reads, g)
		}
	}
	if len(writes) == 0 {
		// Nothing to write: read the acks without taking the write lock.
		for _, g := range reads {
			ack, err := s.storedAck(ctx, g.Tenant, g.Device)
			if err != nil {
				return nil, err
			}
			g.Settle(batch, results, ack, func(uint64) bool { return false })
		}
		return results, nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		inserted, err := s.insertEvents(ctx, tx, writes, micros(received))
		if err != nil {
			return err
		}
		acks, err := s.advanceDevices(ctx, tx, writes, inserted, micros(received))
		if err != nil {
			return err
		}
		readAck := tx.StmtContext(ctx, s.stmts.readAck)
		for _, g := range reads {
			var ack int64
			if err := readAck.QueryRowContext(ctx, g.Tenant, g.Device).Scan(&ack); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("read ack of %s/%s: %w", g.Tenant, g.Device, err)
			}
			acks[deviceKey{g.Tenant, g.Device}] = uint64(ack)
		}
		for _, g := range groups {
			key := deviceKey{g.Tenant, g.Device}
			seqs := inserted[key]
			g.Settle(batch, results, acks[key], func(seq uint64) bool { return seqs[seq] })
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// deviceKey is a device's tenant and id.
type deviceKey struct{ tenant, device string }

// insertEvents inserts the events of groups that are not stored yet, in
// chunks, and returns the sequence numbers it inserted by device.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, groups []*store.EventGroup, received sql.NullInt64) (map[deviceKey]map[uint64]bool, error) {
	type row struct {
		g *store.EventGroup
		i int
	}
	var all []row
	for _, g := range groups {
		for i := range g.Events {
			all = append(all, row{g, i})
		}
	}
	inserted := make(map[deviceKey]map[uint64]bool, len(groups))
	for _, n := range chunks(len(all)) {
		args := make([]any, 0, n*11)
		for _, r := range all[:n] {
			ev := &r.g.Events[r.i]
			args = append(args, r.g.Tenant, r.g.Device, int64(ev.Seq), micros(ev.Time), ev.Type, ev.Phase,
				ev.Target, ev.Reason, ev.Message, r.g.Docs[r.i], received)
		}
		all = all[n:]
		rows, err := tx.StmtContext(ctx, s.stmts.insertEvents[n]).QueryContext(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
		if err := scanInserted(rows, inserted); err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
	}
	return inserted, nil
}

// scanInserted adds the keys of the events rows returns to inserted, and
// closes rows.
func scanInserted(rows *sql.Rows, inserted map[deviceKey]map[uint64]bool) error {
	defer rows.Close()
	for rows.Next() {
		var (
			key deviceKey
			seq int64
		)
		if err := rows.Scan(&key.tenant, &key.device, &seq); err != nil {
			return err
		}
		if inserted[key] == nil {
			inserted[key] = map[uint64]bool{}
		}
		inserted[key][uint64(seq)] = true
	}
	return rows.Err()
}

// advanceDevices creates or updates the devices of groups, in chunks:
// last seen, the count of events inserted, and the ack. It returns the
// acks by device.
func (s *Store) advanceDevices(ctx context.Context, tx *sql.Tx, groups []*store.EventGroup, inserted map[deviceKey]map[uint64]bool, received sql.NullInt64) (map[deviceKey]uint64, error) {
	acks := make(map[deviceKey]uint64, len(groups))
	for _, n := range chunks(len(groups)) {
		args := make([]any, 0, 1+n*3)
		args = append(args, received)
		for _, g := range groups[:n] {
			args = append(args, g.Tenant, g.Device, len(inserted[deviceKey{g.Tenant, g.Device}]))
		}
		groups = groups[n:]
		rows, err := tx.StmtContext(ctx, s.stmts.advanceDevices[n]).QueryContext(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("advance acks: %w", err)
		}
		if err := scanAcks(rows, acks); err != nil {
			return nil, fmt.Errorf("advance acks: %w", err)
		}
	}
	return acks, nil
}

// scanAcks adds the device acks rows returns to acks, and closes rows.
func scanAcks(rows *sql.Rows, acks map[deviceKey]uint64) error {
	defer rows.Close()
	for rows.Next() {
		var (
			key deviceKey
			ack int64
		)
		if err := rows.Scan(&key.tenant, &key.device, &ack); err != nil {
			return err
		}
		acks[key] = uint64(ack)
	}
	return rows.Err()
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

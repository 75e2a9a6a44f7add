package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

// PutState records a device's state document unless the stored one is at
// least as new. A document without a time is recorded only when none is
// stored.
func (s *Store) PutState(ctx context.Context, st telemetry.State, received time.Time) error {
	refused, err := s.putStateBatch(ctx, []telemetry.State{st}, received)
	if err != nil {
		return fmt.Errorf("put state of %s/%s: %w", st.Tenant, st.DeviceID, err)
	}
	return refused[0]
}

// PutStateBatch records the valid states in one transaction, in order.
func (s *Store) PutStateBatch(ctx context.Context, states []telemetry.State, received time.Time) ([]error, error) {
	refused, err := s.putStateBatch(ctx, states, received)
	if err != nil {
		return nil, fmt.Errorf("put %d states: %w", len(states), err)
	}
	return refused, nil
}

func (s *Store) putStateBatch(ctx context.Context, states []telemetry.State, received time.Time) ([]error, error) {
	accepted, refused := store.CheckStates(states, received)
	var docs []stateDoc
	for _, i := range accepted {
		d, err := encodeState(states[i])
		if err != nil {
			refused[i] = err
			continue
		}
		docs = append(docs, d)
	}
	if len(docs) == 0 {
		return refused, nil
	}
	if err := s.write(ctx, func(tx *sql.Tx) error { return s.putStates(ctx, tx, docs, received) }); err != nil {
		return nil, err
	}
	return refused, nil
}

// stateDoc is a state with its encoded document and tags.
type stateDoc struct {
	st   *telemetry.State
	doc  []byte
	tags string // JSON array
}

// encodeState encodes a state for putStates; an error wraps
// store.ErrInvalid: the same state fails the same way every time.
func encodeState(st telemetry.State) (stateDoc, error) {
	doc, err := telemetry.Marshal(&st)
	if err != nil {
		return stateDoc{}, fmt.Errorf("state of %s/%s: %w: %w", st.Tenant, st.DeviceID, store.ErrInvalid, err)
	}
	tags, err := json.Marshal(nonNil(st.Tags))
	if err != nil {
		return stateDoc{}, fmt.Errorf("state of %s/%s: encode tags: %w: %w", st.Tenant, st.DeviceID, store.ErrInvalid, err)
	}
	return stateDoc{st: &st, doc: doc, tags: string(tags)}, nil
}

// putStates records checked and encoded states in tx, in order.
func (s *Store) putStates(ctx context.Context, tx *sql.Tx, docs []stateDoc, received time.Time) error {
	upsert := tx.StmtContext(ctx, s.stmts.upsertState)
	deleteTags := tx.StmtContext(ctx, s.stmts.deleteTags)
	insertTag := tx.StmtContext(ctx, s.stmts.insertTag)
	for _, d := range docs {
		st := d.st
		res, err := upsert.ExecContext(ctx, st.Tenant, st.DeviceID, st.Site, d.tags, st.Board, store.SelfVersion(*st),
			st.AgentVersion, st.Update.Phase, d.doc, micros(st.Time), micros(received))
		if err != nil {
			return fmt.Errorf("state of %s/%s: %w", st.Tenant, st.DeviceID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("state of %s/%s: %w", st.Tenant, st.DeviceID, err)
		}
		if n == 0 {
			s.logger.Debug("stale state ignored", "tenant", st.Tenant, "device_id", st.DeviceID, "state_time", st.Time)
			continue
		}
		if _, err := deleteTags.ExecContext(ctx, st.Tenant, st.DeviceID); err != nil {
			return fmt.Errorf("tags of %s/%s: %w", st.Tenant, st.DeviceID, err)
		}
		for _, tag := range st.Tags {
			if _, err := insertTag.ExecContext(ctx, st.Tenant, st.DeviceID, tag); err != nil {
				return fmt.Errorf("tags of %s/%s: %w", st.Tenant, st.DeviceID, err)
			}
		}
	}
	return nil
}

// PutStatus records a device's status unless the stored one is newer.
func (s *Store) PutStatus(ctx context.Context, tenant, device, status string, at time.Time) error {
	refused, err := s.putStatusBatch(ctx, []store.DeviceStatus{{Tenant: tenant, Device: device, Status: status, At: at}})
	if err != nil {
		return fmt.Errorf("put status of %s/%s: %w", tenant, device, err)
	}
	return refused[0]
}

// PutStatusBatch records the valid statuses in one transaction, in order.
func (s *Store) PutStatusBatch(ctx context.Context, statuses []store.DeviceStatus) ([]error, error) {
	refused, err := s.putStatusBatch(ctx, statuses)
	if err != nil {
		return nil, fmt.Errorf("put %d statuses: %w", len(statuses), err)
	}
	return refused, nil
}

func (s *Store) putStatusBatch(ctx context.Context, statuses []store.DeviceStatus) ([]error, error) {
	accepted, refused := store.CheckStatuses(statuses)
	if len(accepted) == 0 {
		return refused, nil
	}
	valid := make([]store.DeviceStatus, len(accepted))
	for i, j := range accepted {
		valid[i] = statuses[j]
	}
	if err := s.write(ctx, func(tx *sql.Tx) error { return s.putStatuses(ctx, tx, valid) }); err != nil {
		return nil, err
	}
	return refused, nil
}

// putStatuses records checked statuses in tx.
func (s *Store) putStatuses(ctx context.Context, tx *sql.Tx, statuses []store.DeviceStatus) error {
	upsert := tx.StmtContext(ctx, s.stmts.upsertStatus)
	for _, st := range statuses {
		var seen sql.NullInt64
		if st.Status == store.StatusOnline {
			seen = micros(st.At)
		}
		if _, err := upsert.ExecContext(ctx, st.Tenant, st.Device, st.Status, micros(st.At), seen); err != nil {
			return fmt.Errorf("status of %s/%s: %w", st.Tenant, st.Device, err)
		}
	}
	return nil
}

// write runs f in an IMMEDIATE transaction on the writer connection.
func (s *Store) write(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := f(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

const deviceColumns = "tenant, id, site, tags, board, version, agent_version, status, last_seen, phase, ack_seq, state"

// Devices lists the devices that match f, ordered by tenant and ID.
func (s *Store) Devices(ctx context.Context, f store.DeviceFilter) ([]store.Device, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list devices: limit %d: %w (want 0 for no limit, or more)", f.Limit, store.ErrInvalid)
	}
	var where []string
	var args []any
	for _, c := range []struct{ column, value string }{
		{"tenant", f.Tenant}, {"site", f.Site}, {"board", f.Board}, {"version", f.Version},
	} {
		if c.value != "" {
			where = append(where, c.column+" = ?")
			args = append(args, c.value)
		}
	}
	if f.Tag != "" {
		where = append(where, "EXISTS (SELECT 1 FROM device_tags t WHERE t.tenant = d.tenant AND t.device = d.id AND t.tag = ?)")
		args = append(args, f.Tag)
	}
	q := "SELECT " + deviceColumns + " FROM devices d"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY tenant, id"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}

// Device returns one device or an error wrapping store.ErrNotFound.
func (s *Store) Device(ctx context.Context, tenant, device string) (store.Device, error) {
	if err := store.CheckDevice(tenant, device); err != nil {
		return store.Device{}, err
	}
	row := s.reader.QueryRowContext(ctx, "SELECT "+deviceColumns+" FROM devices WHERE tenant = ? AND id = ?", tenant, device)
	d, err := scanDevice(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Device{}, fmt.Errorf("device %s/%s: %w", tenant, device, store.ErrNotFound)
	}
	if err != nil {
		return store.Device{}, fmt.Errorf("read device %s/%s: %w", tenant, device, err)
	}
	return d, nil
}

// Stats counts devices and events; events are counted per device as they
// are stored, so this does not scan the events table.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	var st store.Stats
	err := s.reader.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(event_count), 0) FROM devices").Scan(&st.Devices, &st.Events)
	if err != nil {
		return store.Stats{}, fmt.Errorf("read stats: %w", err)
	}
	return st, nil
}

// scanDevice reads the deviceColumns of one row.
func scanDevice(row interface{ Scan(...any) error }) (store.Device, error) {
	var (
		d        store.Device
		tags     string
		lastSeen sql.NullInt64
		ack      int64
		doc      []byte
	)
	if err := row.Scan(&d.Tenant, &d.ID, &d.Site, &tags, &d.Board, &d.Version, &d.AgentVersion,
		&d.Status, &lastSeen, &d.Phase, &ack, &doc); err != nil {
		return store.Device{}, err
	}
	if err := json.Unmarshal([]byte(tags), &d.Tags); err != nil {
		return store.Device{}, fmt.Errorf("device %s/%s: decode tags: %w", d.Tenant, d.ID, err)
	}
	if len(d.Tags) == 0 {
		d.Tags = nil
	}
	d.LastSeen = fromMicros(lastSeen)
	d.AckSeq = uint64(ack)
	if doc != nil {
		d.State = new(telemetry.State)
		if err := telemetry.Unmarshal(doc, d.State); err != nil {
			return store.Device{}, fmt.Errorf("device %s/%s: stored state: %w", d.Tenant, d.ID, err)
		}
	}
	return d, nil
}

// nonNil returns tags, or an empty slice for nil, which encodes as [].
func nonNil(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return tags
}

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
	if err := store.CheckState(st, received); err != nil {
		return err
	}
	doc, err := telemetry.Marshal(&st)
	if err != nil {
		return fmt.Errorf("put state of %s/%s: %w", st.Tenant, st.DeviceID, err)
	}
	tags, err := json.Marshal(nonNil(st.Tags))
	if err != nil {
		return fmt.Errorf("put state of %s/%s: encode tags: %w", st.Tenant, st.DeviceID, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO devices (tenant, id, site, tags, board, version, agent_version, phase, state, state_time, last_seen)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant, id) DO UPDATE SET
				site = excluded.site, tags = excluded.tags, board = excluded.board,
				version = excluded.version, agent_version = excluded.agent_version,
				phase = excluded.phase, state = excluded.state, state_time = excluded.state_time,
				last_seen = max(coalesce(last_seen, excluded.last_seen), excluded.last_seen)
			WHERE state IS NULL
				OR (excluded.state_time IS NOT NULL AND (state_time IS NULL OR excluded.state_time > state_time))`,
			st.Tenant, st.DeviceID, st.Site, string(tags), st.Board, store.SelfVersion(st), st.AgentVersion,
			st.Update.Phase, doc, micros(st.Time), micros(received))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				s.logger.Debug("stale state ignored", "tenant", st.Tenant, "device_id", st.DeviceID, "state_time", st.Time)
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM device_tags WHERE tenant = ? AND device = ?", st.Tenant, st.DeviceID); err != nil {
			return err
		}
		for _, tag := range st.Tags {
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO device_tags (tenant, device, tag) VALUES (?, ?, ?)",
				st.Tenant, st.DeviceID, tag); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put state of %s/%s: %w", st.Tenant, st.DeviceID, err)
	}
	return nil
}

// PutStatus records a device's status unless the stored one is newer.
func (s *Store) PutStatus(ctx context.Context, tenant, device, status string, at time.Time) error {
	if err := store.CheckStatus(tenant, device, status, at); err != nil {
		return err
	}
	var seen sql.NullInt64
	if status == store.StatusOnline {
		seen = micros(at)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO devices (tenant, id, status, status_time, last_seen) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (tenant, id) DO UPDATE SET
				status = excluded.status, status_time = excluded.status_time,
				last_seen = coalesce(max(last_seen, excluded.last_seen), last_seen, excluded.last_seen)
			WHERE status_time IS NULL OR excluded.status_time >= status_time`,
			tenant, device, status, micros(at), seen)
		return err
	})
	if err != nil {
		return fmt.Errorf("put status of %s/%s: %w", tenant, device, err)
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

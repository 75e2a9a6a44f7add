package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

// upsertState records a state document unless the stored one is at least
// as new.
const upsertState = `
	INSERT INTO devices AS d (tenant, id, site, tags, board, version, agent_version, phase, state, state_time, last_seen)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
	ON CONFLICT (tenant, id) DO UPDATE SET
		site = EXCLUDED.site, tags = EXCLUDED.tags, board = EXCLUDED.board,
		version = EXCLUDED.version, agent_version = EXCLUDED.agent_version,
		phase = EXCLUDED.phase, state = EXCLUDED.state, state_time = EXCLUDED.state_time,
		last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen)
	WHERE d.state IS NULL
		OR (EXCLUDED.state_time IS NOT NULL AND (d.state_time IS NULL OR EXCLUDED.state_time > d.state_time))`

// upsertStatus records a status unless the stored one is newer.
const upsertStatus = `
	INSERT INTO devices AS d (tenant, id, status, status_time, last_seen) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (tenant, id) DO UPDATE SET
		status = EXCLUDED.status, status_time = EXCLUDED.status_time,
		last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen)
	WHERE d.status_time IS NULL OR EXCLUDED.status_time >= d.status_time`

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

// PutStateBatch records the valid states in one round trip and one
// transaction, in order.
func (s *Store) PutStateBatch(ctx context.Context, states []telemetry.State, received time.Time) ([]error, error) {
	refused, err := s.putStateBatch(ctx, states, received)
	if err != nil {
		return nil, fmt.Errorf("put %d states: %w", len(states), err)
	}
	return refused, nil
}

func (s *Store) putStateBatch(ctx context.Context, states []telemetry.State, received time.Time) ([]error, error) {
	accepted, refused := store.CheckStates(states, received)
	type put struct {
		st  *telemetry.State
		doc []byte
	}
	var puts []put
	for _, i := range accepted {
		st := &states[i]
		c := *st // Marshal sets the schema version; leave the caller's state alone
		doc, err := telemetry.Marshal(&c)
		if err != nil {
			// The same state fails the same way every time.
			refused[i] = fmt.Errorf("state of %s/%s: %w: %w", st.Tenant, st.DeviceID, store.ErrInvalid, err)
			continue
		}
		puts = append(puts, put{st, doc})
	}
	if len(puts) == 0 {
		return refused, nil
	}
	slices.SortStableFunc(puts, func(a, b put) int { return compareDevices(a.st.Tenant, a.st.DeviceID, b.st.Tenant, b.st.DeviceID) })
	b := &pgx.Batch{}
	for _, p := range puts {
		st := p.st
		b.Queue(upsertState, st.Tenant, st.DeviceID, text(st.Site), texts(st.Tags), text(st.Board), text(store.SelfVersion(*st)),
			text(st.AgentVersion), text(st.Update.Phase), p.doc, timestamptz(st.Time), timestamptz(received))
	}
	err := s.sendExecs(ctx, b, len(puts), func(i int, tag pgconn.CommandTag) {
		if tag.RowsAffected() == 0 {
			st := puts[i].st
			s.logger.Debug("stale state ignored", "tenant", st.Tenant, "device_id", st.DeviceID, "state_time", st.Time)
		}
	})
	if err != nil {
		return nil, err
	}
	return refused, nil
}

// PutStatus records a device's status unless the stored one is newer.
func (s *Store) PutStatus(ctx context.Context, tenant, device, status string, at time.Time) error {
	refused, err := s.putStatusBatch(ctx, []store.DeviceStatus{{Tenant: tenant, Device: device, Status: status, At: at}})
	if err != nil {
		return fmt.Errorf("put status of %s/%s: %w", tenant, device, err)
	}
	return refused[0]
}

// PutStatusBatch records the valid statuses in one round trip and one
// transaction, in order.
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
	slices.SortStableFunc(valid, func(a, b store.DeviceStatus) int { return compareDevices(a.Tenant, a.Device, b.Tenant, b.Device) })
	b := &pgx.Batch{}
	for _, st := range valid {
		var seen pgtype.Timestamptz
		if st.Status == store.StatusOnline {
			seen = timestamptz(st.At)
		}
		b.Queue(upsertStatus, st.Tenant, st.Device, st.Status, timestamptz(st.At), seen)
	}
	if err := s.sendExecs(ctx, b, len(valid), nil); err != nil {
		return nil, err
	}
	return refused, nil
}

// compareDevices orders devices by tenant and id. Batches lock their
// devices' rows in this order (a stable sort keeps each device's own
// order), so that concurrent batches cannot deadlock.
func compareDevices(tenantA, deviceA, tenantB, deviceB string) int {
	return cmp.Or(strings.Compare(tenantA, tenantB), strings.Compare(deviceA, deviceB))
}

// sendExecs sends b, n statements without results, as one round trip and
// one implicit transaction, and calls done (when not nil) with each
// statement's command tag.
func (s *Store) sendExecs(ctx context.Context, b *pgx.Batch, n int, done func(i int, tag pgconn.CommandTag)) error {
	br := s.pool.SendBatch(ctx, b)
	var err error
	for i := range n {
		var tag pgconn.CommandTag
		if tag, err = br.Exec(); err != nil {
			break
		}
		if done != nil {
			done(i, tag)
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

const deviceColumns = "tenant, id, site, tags, board, version, agent_version, status, last_seen, phase, ack_seq, state"

// Devices lists the devices that match f, ordered by tenant and ID.
func (s *Store) Devices(ctx context.Context, f store.DeviceFilter) ([]store.Device, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list devices: limit %d: %w (want 0 for no limit, or more)", f.Limit, store.ErrInvalid)
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	for _, c := range []struct{ column, value string }{
		{"tenant", f.Tenant}, {"site", f.Site}, {"board", f.Board}, {"version", f.Version},
	} {
		if c.value != "" {
			where = append(where, c.column+" = "+arg(c.value))
		}
	}
	if f.Tag != "" {
		where = append(where, "tags @> ARRAY["+arg(f.Tag)+"]::text[]") // uses the GIN index
	}
	q := "SELECT " + deviceColumns + " FROM devices"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY tenant, id"
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
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
	row := s.pool.QueryRow(ctx, "SELECT "+deviceColumns+" FROM devices WHERE tenant = $1 AND id = $2", tenant, device)
	d, err := scanDevice(row)
	if errors.Is(err, pgx.ErrNoRows) {
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
	err := s.pool.QueryRow(ctx, "SELECT count(*), coalesce(sum(event_count), 0)::bigint FROM devices").Scan(&st.Devices, &st.Events)
	if err != nil {
		return store.Stats{}, fmt.Errorf("read stats: %w", err)
	}
	return st, nil
}

// scanDevice reads the deviceColumns of one row.
func scanDevice(row pgx.Row) (store.Device, error) {
	var (
		d        store.Device
		lastSeen pgtype.Timestamptz
		ack      int64
		doc      []byte
	)
	if err := row.Scan(&d.Tenant, &d.ID, &d.Site, &d.Tags, &d.Board, &d.Version, &d.AgentVersion,
		&d.Status, &lastSeen, &d.Phase, &ack, &doc); err != nil {
		return store.Device{}, err
	}
	if len(d.Tags) == 0 {
		d.Tags = nil
	}
	d.LastSeen = fromTimestamptz(lastSeen)
	d.AckSeq = uint64(ack)
	if doc != nil {
		d.State = new(telemetry.State)
		if err := telemetry.Unmarshal(doc, d.State); err != nil {
			return store.Device{}, fmt.Errorf("device %s/%s: stored state: %w", d.Tenant, d.ID, err)
		}
	}
	return d, nil
}

// text is s without NUL characters, which PostgreSQL's text type cannot
// hold and CBOR text can. The columns (what Devices filters on and
// returns) lose them; the state and event documents keep them.
func text(s string) string {
	return strings.ReplaceAll(s, "\x00", "")
}

// texts is text of each tag, and an empty slice for none: the column is
// NOT NULL.
func texts(tags []string) []string {
	out := make([]string, len(tags))
	for i, tag := range tags {
		out[i] = text(tag)
	}
	return out
}

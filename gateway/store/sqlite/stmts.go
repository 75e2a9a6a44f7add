package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The statements of the write path are prepared once on the writer
// connection: parsing them anew in every call was a quarter of the CPU
// time of storing events. Events and their devices are written with statements
// of many rows each, in chunks of chunkSizes rows, so that a batch of a
// thousand devices takes a few dozen statements rather than thousands.
const (
	sqlUpsertState = `
		INSERT INTO devices (tenant, id, site, tags, board, version, agent_version, phase, state, state_time, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, id) DO UPDATE SET
			site = excluded.site, tags = excluded.tags, board = excluded.board,
			version = excluded.version, agent_version = excluded.agent_version,
			phase = excluded.phase, state = excluded.state, state_time = excluded.state_time,
			last_seen = max(coalesce(last_seen, excluded.last_seen), excluded.last_seen)
		WHERE state IS NULL
			OR (excluded.state_time IS NOT NULL AND (state_time IS NULL OR excluded.state_time > state_time))`
	sqlDeleteTags   = "DELETE FROM device_tags WHERE tenant = ? AND device = ?"
	sqlInsertTag    = "INSERT OR IGNORE INTO device_tags (tenant, device, tag) VALUES (?, ?, ?)"
	sqlUpsertStatus = `
		INSERT INTO devices (tenant, id, status, status_time, last_seen) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant, id) DO UPDATE SET
			status = excluded.status, status_time = excluded.status_time,
			last_seen = coalesce(max(last_seen, excluded.last_seen), last_seen, excluded.last_seen)
		WHERE status_time IS NULL OR excluded.status_time >= status_time`
	sqlReadAck = "SELECT ack_seq FROM devices WHERE tenant = ? AND id = ?"
)

// chunkSizes are the row counts of the prepared multi-row statements,
// largest first; a batch of n rows takes the largest that fit, one after
// the other. 64 rows of events are 704 bound parameters, well under
// SQLite's limit of 32766.
var chunkSizes = []int{64, 8, 1}

// eventColumns are the columns of an event row, in the order of
// insertEventsSQL's parameters.
const eventColumns = "tenant, device, seq, time, type, phase, target, reason, message, document, received"

// insertEventsSQL stores n events, skipping those stored already, and
// returns the key of each it inserted.
func insertEventsSQL(n int) string {
	return "INSERT INTO events (" + eventColumns + ") VALUES " + rows(n, 11) +
		" ON CONFLICT (tenant, device, seq) DO NOTHING RETURNING tenant, device, seq"
}

// advanceDevicesSQL creates n devices of events where needed (the
// parameters are the receive time, then tenant, id and the number of
// events inserted for each device), advances their last_seen, event_count
// and ack_seq, and returns each device's ack. A device's ack advances from
// the stored one (0 for a new device) over every sequence number now
// stored, one index probe per step: the cost grows with how far it
// advances, not with the device's history. The WHERE true lets SQLite
// parse the upsert after a join.
func advanceDevicesSQL(n int) string {
	return `
		WITH RECURSIVE p (received) AS (VALUES (?)),
		k (tenant, id, n) AS (VALUES ` + rows(n, 3) + `),
		run (tenant, id, s) AS (
			SELECT k.tenant, k.id, coalesce((SELECT d.ack_seq FROM devices d WHERE d.tenant = k.tenant AND d.id = k.id), 0) FROM k
			UNION ALL
			SELECT run.tenant, run.id, run.s + 1 FROM run
			WHERE EXISTS (SELECT 1 FROM events e WHERE e.tenant = run.tenant AND e.device = run.id AND e.seq = run.s + 1)
		)
		INSERT INTO devices (tenant, id, last_seen, ack_seq, event_count)
		SELECT k.tenant, k.id, p.received, r.ack, k.n
		FROM k JOIN (SELECT tenant, id, max(s) AS ack FROM run GROUP BY tenant, id) r ON r.tenant = k.tenant AND r.id = k.id, p
		WHERE true
		ON CONFLICT (tenant, id) DO UPDATE SET
			last_seen = max(coalesce(last_seen, excluded.last_seen), excluded.last_seen),
			ack_seq = excluded.ack_seq,
			event_count = event_count + excluded.event_count
		RETURNING tenant, id, ack_seq`
}

// rows is n parenthesized rows of cols parameters each.
func rows(n, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.Join(slices.Repeat([]string{row}, n), ", ")
}

// stmts are the prepared statements of the write path.
type stmts struct {
	upsertState, deleteTags, insertTag, upsertStatus, readAck *sql.Stmt
	// By row count, one of chunkSizes.
	insertEvents, advanceDevices map[int]*sql.Stmt
}

// prepare prepares every statement of the write path on db.
func prepare(ctx context.Context, db *sql.DB) (*stmts, error) {
	s := &stmts{insertEvents: map[int]*sql.Stmt{}, advanceDevices: map[int]*sql.Stmt{}}
	var errs []error
	p := func(query string) *sql.Stmt {
		stmt, err := db.PrepareContext(ctx, query)
		if err != nil {
			errs = append(errs, fmt.Errorf("prepare %q: %w", query, err))
		}
		return stmt
	}
	s.upsertState, s.deleteTags, s.insertTag = p(sqlUpsertState), p(sqlDeleteTags), p(sqlInsertTag)
	s.upsertStatus, s.readAck = p(sqlUpsertStatus), p(sqlReadAck)
	for _, n := range chunkSizes {
		s.insertEvents[n], s.advanceDevices[n] = p(insertEventsSQL(n)), p(advanceDevicesSQL(n))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(err, s.close())
	}
	return s, nil
}

// close closes the statements that were prepared.
func (s *stmts) close() error {
	all := []*sql.Stmt{s.upsertState, s.deleteTags, s.insertTag, s.upsertStatus, s.readAck}
	for _, n := range chunkSizes {
		all = append(all, s.insertEvents[n], s.advanceDevices[n])
	}
	var errs []error
	for _, stmt := range all {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(errs...)
}

// chunks splits n rows into chunks of chunkSizes, largest first.
func chunks(n int) []int {
	var out []int
	for _, size := range chunkSizes {
		for ; n >= size; n -= size {
			out = append(out, size)
		}
	}
	return out
}

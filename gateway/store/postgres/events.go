package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/store"
)

// lockDevices creates the devices ($1, $2: tenants and ids, sorted and
// without repeats) that do not exist and locks their rows until the
// transaction ends, in that order, so that concurrent batches with
// devices in common, from this process or another replica, run one after
// the other and cannot deadlock; it advances last_seen to $3.
const lockDevices = `
	INSERT INTO devices AS d (tenant, id, last_seen)
	SELECT k.tenant, k.id, $3 FROM unnest($1::text[], $2::text[]) AS k (tenant, id)
	ON CONFLICT (tenant, id) DO UPDATE SET last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen)`

// insertEvents stores the events ($2…$11, one array per column) that are
// not stored yet and advances each device's ack_seq over every sequence
// number that is now stored: a device's run starts at its stored ack_seq,
// and each step looks the next sequence number up among the batch's
// events of the device (bseq) or in the table (stored by earlier
// transactions; the rows this statement inserts are not visible to it).
// The LATERAL … LIMIT 1 makes each step one index probe; an EXISTS there
// lets the planner hash every event of the device instead, a cost that
// grows with the device's history. It returns each device's new ack and
// the sequence numbers it inserted. The statement runs after lockDevices,
// so its snapshot holds every event of the devices that any other
// transaction stored.
const insertEvents = `
	WITH RECURSIVE e AS (
		SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::text[], $11::bytea[])
			AS e (tenant, device, seq, time, type, phase, target, reason, message, document)
	), ins AS (
		INSERT INTO events (tenant, device, seq, time, type, phase, target, reason, message, document, received)
		SELECT tenant, device, seq, time, type, phase, target, reason, message, document, $1 FROM e
		ON CONFLICT (tenant, device, seq) DO NOTHING
		RETURNING tenant, device, seq
	), bseq AS (
		SELECT tenant, device, array_agg(seq) AS seqs FROM e GROUP BY tenant, device
	), run (tenant, device, seqs, s) AS (
		SELECT d.tenant, d.id, b.seqs, d.ack_seq FROM devices d JOIN bseq b ON d.tenant = b.tenant AND d.id = b.device
		UNION ALL
		SELECT run.tenant, run.device, run.seqs, next.seq FROM run CROSS JOIN LATERAL (
			SELECT run.s + 1 WHERE run.s + 1 = ANY (run.seqs)
			UNION ALL
			SELECT ev.seq FROM events ev WHERE ev.tenant = run.tenant AND ev.device = run.device AND ev.seq = run.s + 1
			LIMIT 1
		) next (seq)
	), acks AS (
		SELECT tenant, device, max(s) AS ack FROM run GROUP BY tenant, device
	), added AS (
		SELECT tenant, device, count(*) AS n, array_agg(seq) AS seqs FROM ins GROUP BY tenant, device
	)
	UPDATE devices d SET ack_seq = acks.ack, event_count = d.event_count + coalesce(added.n, 0)
	FROM acks LEFT JOIN added ON added.tenant = acks.tenant AND added.device = acks.device
	WHERE d.tenant = acks.tenant AND d.id = acks.device
	RETURNING d.tenant, d.id, d.ack_seq, coalesce(added.seqs, '{}'::bigint[])`

// readAcks returns the acks of the devices ($1, $2: tenants and ids) that
// exist.
const readAcks = `
	SELECT d.tenant, d.id, d.ack_seq FROM devices d
	JOIN unnest($1::text[], $2::text[]) AS k (tenant, id) ON d.tenant = k.tenant AND d.id = k.id`

// AddEvents stores events idempotently and advances the device's
// acknowledged sequence number, in one round trip and one transaction.
func (s *Store) AddEvents(ctx context.Context, tenant, device string, events []telemetry.Event, received time.Time) (uint64, error) {
	res, err := s.addEventBatch(ctx, []store.DeviceEvents{{Tenant: tenant, Device: device, Events: events}}, received)
	if err != nil {
		return 0, fmt.Errorf("add events of %s/%s: %w", tenant, device, err)
	}
	return res[0].Ack, res[0].Err
}

// AddEventBatch stores the events of many devices in one round trip and
// one transaction.
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
	if len(groups) == 0 {
		return results, nil
	}
	slices.SortFunc(writes, func(a, b *store.EventGroup) int { return compareDevices(a.Tenant, a.Device, b.Tenant, b.Device) })
	b := &pgx.Batch{}
	if len(writes) > 0 {
		tenants, devices := groupKeys(writes)
		b.Queue(lockDevices, tenants, devices, timestamptz(received))
		b.Queue(insertEvents, eventColumns(writes, received)...)
	}
	if len(reads) > 0 {
		tenants, devices := groupKeys(reads)
		b.Queue(readAcks, tenants, devices)
	}
	acks, inserted, err := s.sendEventBatch(ctx, b, len(writes) > 0, len(reads) > 0)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		key := [2]string{g.Tenant, g.Device}
		seqs := inserted[key]
		g.Settle(batch, results, acks[key], func(seq uint64) bool { return seqs[seq] })
	}
	return results, nil
}

// sendEventBatch sends b, which has the statements of writes (lockDevices
// and insertEvents) and then of reads (readAcks), and returns the acks by
// device and the sequence numbers inserted for each.
func (s *Store) sendEventBatch(ctx context.Context, b *pgx.Batch, writes, reads bool) (map[[2]string]uint64, map[[2]string]map[uint64]bool, error) {
	acks := map[[2]string]uint64{}
	inserted := map[[2]string]map[uint64]bool{}
	br := s.pool.SendBatch(ctx, b)
	err := func() error {
		if writes {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("lock devices: %w", err)
			}
			rows, err := br.Query()
			if err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
			var (
				key  [2]string
				ack  int64
				seqs []int64
			)
			_, err = pgx.ForEachRow(rows, []any{&key[0], &key[1], &ack, &seqs}, func() error {
				acks[key] = uint64(ack)
				set := make(map[uint64]bool, len(seqs))
				for _, seq := range seqs {
					set[uint64(seq)] = true
				}
				inserted[key] = set
				return nil
			})
			if err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
		}
		if reads {
			rows, err := br.Query()
			if err != nil {
				return fmt.Errorf("read acks: %w", err)
			}
			var (
				key [2]string
				ack int64
			)
			_, err = pgx.ForEachRow(rows, []any{&key[0], &key[1], &ack}, func() error {
				acks[key] = uint64(ack)
				return nil
			})
			if err != nil {
				return fmt.Errorf("read acks: %w", err)
			}
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	return acks, inserted, nil
}

// groupKeys returns the tenants and devices of groups, as arrays.
func groupKeys(groups []*store.EventGroup) (tenants, devices []string) {
	tenants, devices = make([]string, len(groups)), make([]string, len(groups))
	for i, g := range groups {
		tenants[i], devices[i] = g.Tenant, g.Device
	}
	return tenants, devices
}

// eventColumns returns the arguments of insertEvents for the events of
// groups: the receive time, then one array per column, for unnest.
func eventColumns(groups []*store.EventGroup, received time.Time) []any {
	n := 0
	for _, g := range groups {
		n += len(g.Events)
	}
	tenants, devices := make([]string, 0, n), make([]string, 0, n)
	seqs, times, docs := make([]int64, 0, n), make([]pgtype.Timestamptz, 0, n), make([][]byte, 0, n)
	types, phases, targets, reasons, messages := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	for _, g := range groups {
		for i := range g.Events {
			ev := &g.Events[i]
			tenants, devices = append(tenants, g.Tenant), append(devices, g.Device)
			seqs, times, docs = append(seqs, int64(ev.Seq)), append(times, timestamptz(ev.Time)), append(docs, g.Docs[i])
			types, phases, targets = append(types, text(ev.Type)), append(phases, text(ev.Phase)), append(targets, text(ev.Target))
			reasons, messages = append(reasons, text(ev.Reason)), append(messages, text(ev.Message))
		}
	}
	return []any{timestamptz(received), tenants, devices, seqs, times, types, phases, targets, reasons, messages, docs}
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

// Package postgres is the fleet store (store.Store) in PostgreSQL, through
// a pgx connection pool: the store for fleets too large for one SQLite
// file and for several gateway replicas sharing one database.
//
// Every write is one statement or one pgx batch, which PostgreSQL runs as
// one implicit transaction in one round trip. AddEventBatch (and AddEvents,
// a batch of one) sends two statements for any number of devices: the
// first locks the devices' rows (creating those that do not exist) in the
// order of their tenant and id, so that concurrent batches for the same
// devices, from this process or another replica, are serialized and cannot
// deadlock; the second inserts every event with ON CONFLICT DO NOTHING
// from arrays (unnest) and advances each device's acknowledged sequence
// number past the gaps they filled, looking only at the sequence numbers
// it advances over. PutStateBatch and PutStatusBatch send one statement
// per entry in one batch, in the same order of devices.
//
// The schema is versioned by the migration package with the SQL files in
// migrations/; Open applies those the database lacks, holding an advisory
// lock so replicas starting together do not race, and refuses a database
// whose schema is newer than this binary. A Store is safe for concurrent
// use.
package postgres

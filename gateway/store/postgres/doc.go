// Package postgres is the fleet store (store.Store) in PostgreSQL, through
// a pgx connection pool: the store for fleets too large for one SQLite
// file and for several gateway replicas sharing one database.
//
// Every write is one statement or one batch. AddEvents sends its statements as one
// pgx batch, which PostgreSQL runs as one implicit transaction: it first
// locks the device's row (creating it if needed), so that concurrent
// deliveries for one device, from this process or another replica, are
// serialized, then inserts the events with ON CONFLICT DO NOTHING and
// advances the device's acknowledged sequence number past the gaps they
// filled, looking only at the sequence numbers it advances over.
//
// The schema is versioned by the migration package with the SQL files in
// migrations/; Open applies those the database lacks, holding an advisory
// lock so replicas starting together do not race, and refuses a database
// whose schema is newer than this binary. A Store is safe for concurrent
// use.
package postgres

// Package sqlite is the fleet store (store.Store) in one SQLite file: the
// gateway's embedded default, through modernc.org/sqlite, which is pure Go
// (the package builds for the gateway's platforms, not for MIPS, and the
// agent never links it).
//
// The database runs in WAL mode with a busy timeout. Every write goes
// through a single connection, so concurrent ingest queues in Go instead of
// failing with SQLITE_BUSY, and each call is one IMMEDIATE transaction;
// reads use a small pool of read-only connections and do not wait for
// writes. Commits are synchronous (synchronous=FULL): the gateway
// acknowledges events to devices, which then delete them, so a stored event
// must survive a power cut. One process owns the file at a time; for
// several gateway replicas use the postgres package.
//
// The schema is versioned by the migration package with the SQL files in
// migrations/; Open applies those the file lacks and refuses a file whose
// schema is newer than this binary. A Store is safe for concurrent use.
package sqlite

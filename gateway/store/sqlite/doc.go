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
// The writer connection keeps its statements prepared, and writes a
// batch's events and devices with statements of up to 64 rows each, the
// acks advanced in SQL; it has a 64 MiB page cache, keeps temporary
// tables in memory, and checkpoints the WAL every 8192 pages rather than
// SQLite's 1000. A commit, an fsync, is the main cost of a write: the
// batch methods (AddEventBatch and the others) put the messages of many
// devices into one.
//
// The schema is versioned by the migration package with the SQL files in
// migrations/; Open applies those the file lacks and refuses a file whose
// schema is newer than this binary. A Store is safe for concurrent use.
package sqlite

// Package migration versions a database schema: it reads numbered SQL files
// (0001_initial.sql, 0002_….sql) from an embedded file system and applies
// those a database lacks, in order, each in its own transaction, recording
// each in a schema_migrations table. Applying is idempotent, so a gateway
// runs it at every start; a database whose schema is newer than the binary
// knows is refused with a *NewerSchemaError rather than used.
//
// The package knows no SQL dialect: each store implements Target for its
// database and, where several processes share one database, serializes
// Up across them (PostgreSQL's advisory locks). Load and Up are safe for
// concurrent use if the Target is.
package migration

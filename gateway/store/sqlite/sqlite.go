package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"patchbay.dev/gateway/store"
	"patchbay.dev/gateway/store/migration"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// busyTimeout is how long a connection waits for a lock another process
// holds (a backup, the sqlite3 shell) before SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// writerCacheKiB is the page cache of the writer connection. A batch
// touches a row of every device in it, spread over the whole devices and
// events tables; with SQLite's default of 2 MiB the writer re-read most
// pages from the file for every batch of a large fleet.
const writerCacheKiB = 64 << 10

// checkpointPages is how many pages the WAL grows to before a commit
// copies them into the database file (32 MiB of 4 KiB pages). A batch of
// a large fleet dirties a page of the events table for nearly every
// device in it, 2,000 pages and more: with SQLite's default of 1000 every
// commit also copied its pages into the database file, the same pages
// commit after commit; now a checkpoint copies each once for several
// commits. It does not change what survives a power cut: every commit
// syncs the WAL.
const checkpointPages = 8192

// Store is the fleet store in one SQLite file.
type Store struct {
	path   string
	writer *sql.DB // one connection: SQLite has one writer at a time
	stmts  *stmts  // prepared on writer
	reader *sql.DB // read-only connections
	logger *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens the database file at path, creating it if it does not exist,
// and brings its schema up to date. It fails with a
// *migration.NewerSchemaError for a file a newer release migrated.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("open sqlite store: path %q: want a file path", path)
	}
	writer, err := sql.Open("sqlite", dsn(path, url.Values{
		"_txlock": {"immediate"},
		"_pragma": {
			fmt.Sprintf("cache_size(-%d)", writerCacheKiB),
			fmt.Sprintf("wal_autocheckpoint(%d)", checkpointPages),
			"temp_store(MEMORY)",
		},
	}))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	s := &Store{path: path, writer: writer, logger: logger}
	version, err := s.setUp(ctx)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: %w", path, err), writer.Close())
	}
	if s.stmts, err = prepare(ctx, writer); err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: %w", path, err), writer.Close())
	}
	s.reader, err = sql.Open("sqlite", dsn(path, url.Values{"_pragma": {"query_only(1)"}}))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: %w", path, err), s.stmts.close(), writer.Close())
	}
	s.reader.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	logger.Info("store opened", "driver", "sqlite", "path", path, "schema_version", version)
	return s, nil
}

// dsn is the modernc.org/sqlite data source name of the file at path with
// the pragmas every connection needs, and extra parameters.
func dsn(path string, extra url.Values) string {
	q := url.Values{"_pragma": {
		fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()),
		"journal_mode(WAL)",
		"synchronous(FULL)",
		"foreign_keys(1)",
	}}
	for k, vs := range extra {
		q[k] = append(q[k], vs...)
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// setUp checks that the writer connection works in WAL mode and migrates
// the schema.
func (s *Store) setUp(ctx context.Context) (int, error) {
	var mode string
	if err := s.writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return 0, fmt.Errorf("read journal mode: %w", err)
	}
	if mode != "wal" {
		return 0, fmt.Errorf("journal mode is %q, not wal: the file system may not support WAL (use a local disk)", mode)
	}
	migrations, err := migration.Load(migrationFiles, "migrations")
	if err != nil {
		return 0, err
	}
	return migration.Up(ctx, migrator{s.writer}, migrations, s.logger)
}

// migrator applies migrations through the writer connection.
type migrator struct{ db *sql.DB }

func (m migrator) Version(ctx context.Context) (int, error) {
	if _, err := m.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL -- unix microseconds
	) STRICT`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	var v int
	if err := m.db.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema_migrations: %w", err)
	}
	return v, nil
}

func (m migrator) Apply(ctx context.Context, mig migration.Migration) error {
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The IMMEDIATE transaction holds the write lock: no other process
	// can apply mig between this check and the commit.
	var done bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)", mig.Version).Scan(&done); err != nil {
		return err
	}
	if done {
		return nil
	}
	if _, err := tx.ExecContext(ctx, mig.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		mig.Version, mig.Name, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes the database; calling it again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = errors.Join(s.reader.Close(), s.stmts.close(), s.writer.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("close sqlite store %s: %w", s.path, s.closeErr)
		}
	})
	return s.closeErr
}

// micros is t as stored: unix microseconds, NULL for the zero time.
func micros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// fromMicros is the time stored as n, in UTC.
func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

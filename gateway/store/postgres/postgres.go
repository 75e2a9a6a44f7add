package postgres

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"patchbay.dev/gateway/store"
	"patchbay.dev/gateway/store/migration"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the key of the advisory lock Open holds while it
// migrates ("pbstore" in ASCII).
const migrationLock int64 = 0x7062_7374_6f72_65

// Store is the fleet store in a PostgreSQL database.
type Store struct {
	pool   *pgxpool.Pool
	where  string // host and database, for errors and logs
	logger *slog.Logger

	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the database dsn names (a postgres:// URL or key=value
// string as pgx takes it) and brings its schema up to date. It fails with
// a *migration.NewerSchemaError for a database a newer release migrated.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", where, err)
	}
	s := &Store{pool: pool, where: where, logger: logger}
	version, err := s.migrate(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store %s: %w", where, err)
	}
	logger.Info("store opened", "driver", "postgres", "database", where, "schema_version", version)
	return s, nil
}

// migrate applies the migrations the database lacks on one connection
// that holds the migration lock, so that replicas starting together take
// turns.
func (s *Store) migrate(ctx context.Context) (int, error) {
	migrations, err := migration.Load(migrationFiles, "migrations")
	if err != nil {
		return 0, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return 0, fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", migrationLock); err != nil {
			// Ending the session releases the lock as well, and the
			// pool drops a closed connection: nothing is left to report.
			_ = conn.Conn().Close(ctx)
		}
	}()
	return migration.Up(ctx, migrator{conn.Conn()}, migrations, s.logger)
}

// migrator applies migrations on one connection.
type migrator struct{ conn *pgx.Conn }

func (m migrator) Version(ctx context.Context) (int, error) {
	if _, err := m.conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	var v int
	if err := m.conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema_migrations: %w", err)
	}
	return v, nil
}

func (m migrator) Apply(ctx context.Context, mig migration.Migration) error {
	return pgx.BeginFunc(ctx, m.conn, func(tx pgx.Tx) error {
		var done bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", mig.Version).Scan(&done); err != nil {
			return err
		}
		if done {
			return nil
		}
		if _, err := tx.Exec(ctx, mig.SQL); err != nil { // no arguments: simple protocol, several statements
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", mig.Version, mig.Name)
		return err
	})
}

// Close closes the pool's connections, waiting for those in use to be
// returned; calling it again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// timestamptz is t as stored, NULL for the zero time.
func timestamptz(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// fromTimestamptz is the time stored as ts, in UTC.
func fromTimestamptz(ts pgtype.Timestamptz) time.Time {
	if !ts.Valid {
		return time.Time{}
	}
	return ts.Time.UTC()
}

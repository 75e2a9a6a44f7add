package migration

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"strconv"
)

// Migration is one numbered step of a schema.
type Migration struct {
	Version int    // from the file name: 0001_initial.sql is 1
	Name    string // the file name, recorded with the version
	SQL     string // one or more statements
}

// Target is a database that migrations apply to.
type Target interface {
	// Version creates the schema_migrations table if it does not exist
	// and returns the highest version recorded in it, 0 for none.
	Version(ctx context.Context) (int, error)
	// Apply runs m.SQL and records m in schema_migrations in one
	// transaction: either both happen or neither does. If m is recorded
	// already (another process applied it meanwhile), it does nothing.
	Apply(ctx context.Context, m Migration) error
}

// NewerSchemaError reports a database whose schema is newer than the
// migrations this binary knows: a newer gateway migrated it, and an older
// one must not write to it.
type NewerSchemaError struct {
	Database int // the database's schema version
	Known    int // the newest version this binary knows
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this binary knows (%d): run a release at least as new as the one that migrated the database, or restore a backup taken before",
		e.Database, e.Known)
}

var fileRE = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// Load reads the migrations in dir of fsys: files named NNNN_name.sql
// (four digits, then lower-case letters, digits and underscores), numbered
// from 0001 without gaps. Other files in dir are an error, so a misnamed
// migration is not silently skipped.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries { // sorted by name, so by version
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			return nil, fmt.Errorf("migration %s: name is not NNNN_lower_case_name.sql", path.Join(dir, e.Name()))
		}
		version, _ := strconv.Atoi(m[1]) // four digits by the pattern
		if want := len(ms) + 1; version != want {
			return nil, fmt.Errorf("migration %s: version %d, want %d (versions count from 1 without gaps or duplicates)", path.Join(dir, e.Name()), version, want)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		ms = append(ms, Migration{Version: version, Name: e.Name(), SQL: string(b)})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("read migrations: no NNNN_name.sql file in %s", dir)
	}
	return ms, nil
}

// Up applies to db, in order, the migrations (as Load returns them) newer
// than its schema version and returns the version it then has. It refuses
// a database whose version is newer than the last migration with a
// *NewerSchemaError. An error leaves the database at the last migration
// that was applied in full.
func Up(ctx context.Context, db Target, migrations []Migration, logger *slog.Logger) (int, error) {
	version, err := db.Version(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	known := len(migrations)
	if version > known {
		return version, &NewerSchemaError{Database: version, Known: known}
	}
	for _, m := range migrations[version:] {
		if err := db.Apply(ctx, m); err != nil {
			return version, fmt.Errorf("apply migration %s: %w", m.Name, err)
		}
		logger.Info("schema migrated", "from_version", version, "to_version", m.Version, "migration", m.Name)
		version = m.Version
	}
	return version, nil
}

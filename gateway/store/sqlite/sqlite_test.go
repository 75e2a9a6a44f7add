package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"patchbay.dev/gateway/store"
	"patchbay.dev/gateway/store/migration"
	"patchbay.dev/gateway/store/sqlite"
	"patchbay.dev/gateway/store/storetest"
)

// open opens a store on the file at path, closed when tb ends.
func open(tb testing.TB, path string) store.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatalf("Open(%s) = %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close() = %v", err)
		}
	})
	return s
}

func newPath(tb testing.TB) string { return filepath.Join(tb.TempDir(), "fleet.db") }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, newPath(t)) })
}

func TestReopen(t *testing.T) {
	storetest.RunReopen(t, func(t *testing.T) string { return newPath(t) }, func(t *testing.T, path string) store.Store {
		return open(t, path)
	})
}

func TestOpenAwkwardPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleet ?#%.db")
	s := open(t, path)
	if _, err := s.Stats(t.Context()); err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %q: %v", path, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := newPath(t)
	s := open(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(t.Context(), path, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var newer *migration.NewerSchemaError
	if !errors.As(err, &newer) || newer.Database != 999 {
		t.Fatalf("Open(schema 999) error = %v, want a *migration.NewerSchemaError for version 999", err)
	}
}

func TestOpenErrors(t *testing.T) {
	notDB := filepath.Join(t.TempDir(), "not.db")
	if err := os.WriteFile(notDB, []byte("this is not an SQLite database, just a text file of some length"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"", ":memory:", notDB, filepath.Join(t.TempDir(), "missing", "dir", "fleet.db")} {
		s, err := sqlite.Open(context.Background(), path, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

func BenchmarkAddEvents(b *testing.B) {
	storetest.BenchmarkAddEvents(b, func(b *testing.B) store.Store { return open(b, newPath(b)) })
}

func BenchmarkAddEventBatch(b *testing.B) {
	storetest.BenchmarkAddEventBatch(b, func(b *testing.B) store.Store { return open(b, newPath(b)) })
}

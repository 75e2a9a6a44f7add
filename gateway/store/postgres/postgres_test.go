package postgres_test

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5"

	"patchbay.dev/gateway/store"
	"patchbay.dev/gateway/store/migration"
	"patchbay.dev/gateway/store/postgres"
	"patchbay.dev/gateway/store/storetest"
	"patchbay.dev/testbench/services"
)

func TestMain(m *testing.M) { services.Main(m) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// open opens a store on the database dsn names, closed when tb ends.
func open(tb testing.TB, dsn string) store.Store {
	tb.Helper()
	s, err := postgres.Open(tb.Context(), dsn, discard())
	if err != nil {
		tb.Fatalf("Open() = %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close() = %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, services.StartPostgres(t).DSN) })
}

func TestReopen(t *testing.T) {
	storetest.RunReopen(t, func(t *testing.T) string { return services.StartPostgres(t).DSN }, func(t *testing.T, dsn string) store.Store {
		return open(t, dsn)
	})
}

// TestOpenConcurrently starts several gateways on one new database at once:
// the migration lock lets one migrate and the others find it done.
func TestOpenConcurrently(t *testing.T) {
	dsn := services.StartPostgres(t).DSN
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			s, err := postgres.Open(t.Context(), dsn, discard())
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("Open() = %v", err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dsn := services.StartPostgres(t).DSN
	open(t, dsn).Close()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), "INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')"); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(t.Context(), dsn, discard())
	var newer *migration.NewerSchemaError
	if !errors.As(err, &newer) || newer.Database != 999 {
		t.Fatalf("Open(schema 999) error = %v, want a *migration.NewerSchemaError for version 999", err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, dsn := range []string{"postgres://127.0.0.1:1/none?sslmode=disable&connect_timeout=2", "not a dsn = = ="} {
		s, err := postgres.Open(t.Context(), dsn, discard())
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", dsn)
		}
	}
}

func BenchmarkAddEvents(b *testing.B) {
	storetest.BenchmarkAddEvents(b, func(b *testing.B) store.Store { return open(b, services.StartPostgres(b).DSN) })
}

func BenchmarkAddEventBatch(b *testing.B) {
	storetest.BenchmarkAddEventBatch(b, func(b *testing.B) store.Store { return open(b, services.StartPostgres(b).DSN) })
}

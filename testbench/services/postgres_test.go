package services

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestPostgres(t *testing.T) {
	t.Parallel()
	var names []string
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			pg := StartPostgres(t)
			names = append(names, pg.Database)
			conn, err := pgx.Connect(t.Context(), pg.DSN)
			if err != nil {
				t.Fatalf("connect to %s: %v", pg.DSN, err)
			}
			defer conn.Close(context.Background())
			var db string
			var one int
			if err := conn.QueryRow(t.Context(), "SELECT current_database(), 1").Scan(&db, &one); err != nil {
				t.Fatalf("query: %v", err)
			}
			if db != pg.Database || one != 1 {
				t.Errorf("SELECT current_database(), 1 = %s, %d; want %s, 1", db, one, pg.Database)
			}
			// Every test starts from an empty database.
			if _, err := conn.Exec(t.Context(), "CREATE TABLE devices (id text PRIMARY KEY)"); err != nil {
				t.Fatalf("create table: %v", err)
			}
		})
	}
	if len(names) == 2 && names[0] == names[1] {
		t.Errorf("two tests got the same database %s", names[0])
	}
}

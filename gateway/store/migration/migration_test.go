package migration_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/gateway/store/migration"
)

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []migration.Migration
		wantErr bool
	}{
		{
			name: "in order",
			files: fstest.MapFS{
				"m/0002_tags.sql":    file("CREATE TABLE tags (x int);"),
				"m/0001_initial.sql": file("CREATE TABLE devices (x int);"),
			},
			want: []migration.Migration{
				{Version: 1, Name: "0001_initial.sql", SQL: "CREATE TABLE devices (x int);"},
				{Version: 2, Name: "0002_tags.sql", SQL: "CREATE TABLE tags (x int);"},
			},
		},
		{name: "empty", files: fstest.MapFS{"m/.keep": file("")}, wantErr: true},
		{name: "no directory", files: fstest.MapFS{}, wantErr: true},
		{name: "gap", files: fstest.MapFS{"m/0001_a.sql": file(""), "m/0003_c.sql": file("")}, wantErr: true},
		{name: "duplicate", files: fstest.MapFS{"m/0001_a.sql": file(""), "m/0001_b.sql": file("")}, wantErr: true},
		{name: "starts at 2", files: fstest.MapFS{"m/0002_a.sql": file("")}, wantErr: true},
		{name: "misnamed", files: fstest.MapFS{"m/0001_a.sql": file(""), "m/2_b.sql": file("")}, wantErr: true},
		{name: "not sql", files: fstest.MapFS{"m/0001_a.sql": file(""), "m/README": file("")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := migration.Load(tt.files, "m")
			if (err != nil) != tt.wantErr {
				t.Fatalf("Load() error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Load() (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeDB records the migrations applied to it; failAt makes Apply of that
// version fail.
type fakeDB struct {
	applied []int
	failAt  int
}

func (db *fakeDB) Version(context.Context) (int, error) { return len(db.applied), nil }

func (db *fakeDB) Apply(_ context.Context, m migration.Migration) error {
	if m.Version == db.failAt {
		return errors.New("syntax error")
	}
	db.applied = append(db.applied, m.Version)
	return nil
}

func TestUp(t *testing.T) {
	three := []migration.Migration{{Version: 1, Name: "0001_a.sql"}, {Version: 2, Name: "0002_b.sql"}, {Version: 3, Name: "0003_c.sql"}}
	tests := []struct {
		name        string
		db          *fakeDB
		wantVersion int
		wantApplied []int
		wantErr     bool
		wantNewer   *migration.NewerSchemaError
	}{
		{name: "new database", db: &fakeDB{}, wantVersion: 3, wantApplied: []int{1, 2, 3}},
		{name: "behind", db: &fakeDB{applied: []int{1}}, wantVersion: 3, wantApplied: []int{1, 2, 3}},
		{name: "current", db: &fakeDB{applied: []int{1, 2, 3}}, wantVersion: 3, wantApplied: []int{1, 2, 3}},
		{
			name: "newer", db: &fakeDB{applied: []int{1, 2, 3, 4}}, wantVersion: 4, wantApplied: []int{1, 2, 3, 4},
			wantErr: true, wantNewer: &migration.NewerSchemaError{Database: 4, Known: 3},
		},
		{name: "failing step", db: &fakeDB{failAt: 2}, wantVersion: 1, wantApplied: []int{1}, wantErr: true},
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := migration.Up(t.Context(), tt.db, three, logger)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Up() error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.wantVersion {
				t.Errorf("Up() = %d, want %d", got, tt.wantVersion)
			}
			if diff := cmp.Diff(tt.wantApplied, tt.db.applied); diff != "" {
				t.Errorf("applied (-want +got):\n%s", diff)
			}
			if tt.wantNewer != nil {
				var newer *migration.NewerSchemaError
				if !errors.As(err, &newer) {
					t.Fatalf("Up() error = %v, want a *NewerSchemaError", err)
				}
				if diff := cmp.Diff(tt.wantNewer, newer); diff != "" {
					t.Errorf("NewerSchemaError (-want +got):\n%s", diff)
				}
			}
		})
	}
}

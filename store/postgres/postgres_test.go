package postgres_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/doorwayhq/doorway/internal/pgtest"
	"github.com/doorwayhq/doorway/store"
	"github.com/doorwayhq/doorway/store/postgres"
	"github.com/doorwayhq/doorway/store/sqlite"
	"github.com/doorwayhq/doorway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	url := pgtest.URL(t)
	applied, err := postgres.Migrate(context.Background(), url, nil)
	if err != nil || len(applied) == 0 {
		t.Fatalf("first migrate applied %v, err %v; want the initial migration", applied, err)
	}
	applied, err = postgres.Migrate(context.Background(), url, nil)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second migrate applied %v, err %v; want nothing", applied, err)
	}
}

// TestSchemaMatchesSQLite: the two backends' migrations, written
// separately because their types differ, must end in the same tables and
// columns, since they share their SQL. PostgreSQL's rowid columns stand for
// SQLite's implicit ones, and SQLite's installations.id_key is the rowid
// it keeps installations by (sqlstore.Dialect.InstallationKeys).
func TestSchemaMatchesSQLite(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	if _, err := postgres.Migrate(ctx, url, nil); err != nil {
		t.Fatal(err)
	}
	pg, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	pgCols := columns(t, pg, `SELECT table_name || '.' || column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND column_name <> 'rowid'`)

	path := filepath.Join(t.TempDir(), "doorway.db")
	if _, err := sqlite.Migrate(ctx, path, nil); err != nil {
		t.Fatal(err)
	}
	lt, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer lt.Close()
	liteCols := columns(t, lt, `SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND NOT (m.name = 'installations' AND p.name = 'id_key')`)
	if len(liteCols) < 50 {
		t.Fatalf("only %d SQLite columns found: %v", len(liteCols), liteCols)
	}
	if !slices.Equal(pgCols, liteCols) {
		t.Fatalf("the schemas differ:\nonly in PostgreSQL: %v\nonly in SQLite: %v", minus(pgCols, liteCols), minus(liteCols, pgCols))
	}
}

func columns(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

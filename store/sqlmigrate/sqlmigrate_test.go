package sqlmigrate_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite"

	"github.com/doorwayhq/doorway/store/sqlmigrate"
)

// TestStartingNamesWhatRuns: Starting hears of each migration the database
// has not seen, in order, before it runs; a migration that fails is the
// last it hears of, and what failed is not recorded as applied.
func TestStartingNamesWhatRuns(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	fsys := fstest.MapFS{
		"m/0001_a.sql": {Data: []byte(`CREATE TABLE a (x INTEGER)`)},
		"m/0002_b.sql": {Data: []byte(`CREATE TABLE b (x INTEGER)`)},
	}
	up := func() ([]string, []string, error) {
		ms, err := sqlmigrate.Load(fsys, "m")
		if err != nil {
			t.Fatal(err)
		}
		var heard []string
		applied, err := sqlmigrate.Up(ctx, db, ms, sqlmigrate.Options{Starting: func(name string) { heard = append(heard, name) }})
		return heard, applied, err
	}
	if heard, applied, err := up(); err != nil || !slices.Equal(heard, []string{"0001_a.sql", "0002_b.sql"}) || !slices.Equal(applied, heard) {
		t.Fatalf("first Up: heard %v, applied %v, err %v; want both, in order", heard, applied, err)
	}
	fsys["m/0003_c.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE c (x INTEGER)`)}
	fsys["m/0004_bad.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE a (x INTEGER)`)}
	heard, applied, err := up()
	if err == nil || !strings.Contains(err.Error(), "0004_bad.sql") {
		t.Fatalf("Up with a failing migration: err %v; want it to name 0004_bad.sql", err)
	}
	if !slices.Equal(heard, []string{"0003_c.sql", "0004_bad.sql"}) || !slices.Equal(applied, []string{"0003_c.sql"}) {
		t.Fatalf("heard %v, applied %v; want to hear of 0003 and 0004 and only 0003 applied", heard, applied)
	}
}

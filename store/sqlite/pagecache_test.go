package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "github.com/doorwayhq/doorway/store/sqlite" // installs the page cache
)

// The page cache (pagecache.go) serves every SQLite connection of a
// process that imports store/sqlite, these tests' included; they drive it
// through SQLite with caches far smaller than the data, where a page
// recycled too early or kept under the wrong number loses rows.

type execer interface {
	Exec(query string, args ...any) (sql.Result, error)
}

func mustExec(t *testing.T, db execer, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// checkRows fails unless table holds want rows of n bytes each, each
// as insertRows wrote it.
func checkRows(t *testing.T, db *sql.DB, table string, want, n int) {
	t.Helper()
	var count, wrong int
	if err := db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE v <> printf('%.*c', $1, char(65 + k % 26))) FROM `+table, n).
		Scan(&count, &wrong); err != nil {
		t.Fatal(err)
	}
	if count != want || wrong != 0 {
		t.Fatalf("%s holds %d rows, %d of them changed; want %d, none changed", table, count, wrong, want)
	}
}

// insertRows inserts the rows from..to, whose text is n times a letter
// that depends on the row.
func insertRows(t *testing.T, db execer, table string, from, to, n int) {
	t.Helper()
	mustExec(t, db, `WITH RECURSIVE c(k) AS (SELECT $1 UNION ALL SELECT k+1 FROM c WHERE k < $2)
		INSERT INTO `+table+` (k, v) SELECT k, printf('%.*c', $3, char(65 + k % 26)) FROM c`, from, to, n)
}

func TestInMemoryDatabasesOutgrowTheCache(t *testing.T) {
	// An in-memory database's pages are its only copy: SQLite keeps them
	// all pinned, so its cache must hand out a slot for every page
	// whatever cache_size says (a cache that capped them fails the
	// INSERT with "out of memory").
	for _, c := range []struct{ name, dsn, table string }{
		{"in-memory database", ":memory:", "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"},
		{"temporary table in memory", "file:" + filepath.Join(t.TempDir(), "t.db") + "?_pragma=temp_store(MEMORY)",
			"CREATE TEMP TABLE t (k INTEGER PRIMARY KEY, v TEXT)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, err := sql.Open("sqlite", c.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			mustExec(t, db, `PRAGMA cache_size = 10`)
			mustExec(t, db, c.table)
			mustExec(t, db, `CREATE INDEX t_v ON t (v)`)
			insertRows(t, db, "t", 1, 2000, 1000) // 2 MB in 10 pages' worth of cache
			checkRows(t, db, "t", 2000, 1000)
		})
	}
}

func TestTransactionsLargerThanTheCache(t *testing.T) {
	// A 16-page cache: the transaction spills dirty pages to the WAL as
	// it goes, a savepoint rolls some back, and auto_vacuum moves pages
	// to new numbers as rows are deleted (xRekey).
	path := filepath.Join(t.TempDir(), "big.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=auto_vacuum(FULL)&_pragma=journal_mode(WAL)&_pragma=cache_size(16)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	mustExec(t, db, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`)
	mustExec(t, db, `CREATE INDEX t_v ON t (v)`)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	insertRows(t, tx, "t", 1, 2000, 800)
	mustExec(t, tx, `SAVEPOINT more`)
	insertRows(t, tx, "t", 2001, 3000, 800)
	mustExec(t, tx, `ROLLBACK TO more`)
	mustExec(t, tx, `RELEASE more`)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, `DELETE FROM t WHERE k % 2 = 0`)

	// Read back on a new connection, whose cache starts empty.
	again, err := sql.Open("sqlite", "file:"+path+"?_pragma=cache_size(16)")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var ok string
	if err := again.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q, %v", ok, err)
	}
	checkRows(t, again, "t", 1000, 800)
}

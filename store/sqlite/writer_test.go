package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
)

// writerDB is a database file with one table, a writer on it and a
// database/sql connection to read back what the writer committed.
func writerDB(t *testing.T) (*writer, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "writer.db")
	r, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := r.Exec(`CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER NOT NULL, note TEXT) WITHOUT ROWID`); err != nil {
		t.Fatal(err)
	}
	w, err := openWriter(path, "NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, r
}

func count(t *testing.T, r *sql.DB) int {
	t.Helper()
	var n int
	if err := r.QueryRow(`SELECT count(*) FROM things`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWriterRunsATransaction: what each kind of statement returns, and
// that nothing is seen by another connection before the commit.
func TestWriterRunsATransaction(t *testing.T) {
	w, r := writerDB(t)
	ctx := context.Background()
	if err := w.Begin(); err != nil {
		t.Fatal(err)
	}
	res, err := w.ExecContext(ctx, `INSERT INTO things VALUES ($1, $2, $3), ($4, $5, NULL)`, "a", 1, "one", "b", int64(2))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Errorf("RowsAffected of a two-row INSERT = %d, want 2", n)
	}
	var id, note string
	var n int64
	// $2 before $1 in the text, a named string type as an argument.
	if err := w.QueryRowContext(ctx, `INSERT INTO things VALUES ($2, $1, 'three') RETURNING id, n, note`, 3, doorway.Mode("c")).Scan(&id, &n, &note); err != nil {
		t.Fatal(err)
	}
	if id != "c" || n != 3 || note != "three" {
		t.Errorf("INSERT … RETURNING = %q, %d, %q; want c, 3, three", id, n, note)
	}
	if err := w.QueryRowContext(ctx, `SELECT id FROM things WHERE n > 10`).Scan(&id); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("a query with no row: %v, want sql.ErrNoRows", err)
	}
	rows, err := w.QueryContext(ctx, `UPDATE things SET n = n * 10 WHERE n >= $1 RETURNING id, n`, 2)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for rows.Next() {
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		got[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if fmt.Sprint(got) != "map[b:20 c:30]" {
		t.Errorf("UPDATE … RETURNING rows = %v, want b 20 and c 30", got)
	}
	if err := rows.Scan(&id, &n); err == nil {
		t.Error("Scan after the last row succeeded; want an error")
	}
	if c := count(t, r); c != 0 {
		t.Errorf("another connection saw %d rows before the commit, want 0", c)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if c := count(t, r); c != 3 {
		t.Errorf("another connection saw %d rows after the commit, want 3", c)
	}
	// After a commit there is nothing to roll back.
	if err := w.Rollback(); err != nil {
		t.Errorf("Rollback after Commit: %v, want nil", err)
	}
}

// TestWriterErrors: a failing statement says why in SQLite's words (the
// store recognises a unique violation by them), leaves the transaction
// as it was, and a rollback undoes the rest.
func TestWriterErrors(t *testing.T) {
	w, r := writerDB(t)
	ctx := context.Background()
	if err := w.Begin(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO things VALUES ('a', 1, NULL)`); err != nil {
		t.Fatal(err)
	}
	_, err := w.ExecContext(ctx, `INSERT INTO things VALUES ('a', 2, NULL)`)
	if err == nil || !dialect.Unique(err) {
		t.Errorf("a duplicate key: %v, want a unique violation the dialect recognises", err)
	}
	err = w.QueryRowContext(ctx, `INSERT INTO things VALUES ('b', NULL, NULL) RETURNING id`).Scan(new(string))
	if err == nil || !strings.Contains(err.Error(), "NOT NULL") {
		t.Errorf("a NULL into a NOT NULL column: %v, want SQLite's NOT NULL error", err)
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO missing_table VALUES (1)`); err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Errorf("an unknown table: %v, want SQLite's error naming it", err)
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO things VALUES ($1, $2, NULL)`, "c"); err == nil || !strings.Contains(err.Error(), "wants $2") {
		t.Errorf("too few arguments: %v, want an error naming the missing one", err)
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO things VALUES ($1, 1, NULL)`, struct{}{}); err == nil {
		t.Error("an argument of an unusable type was bound")
	}
	var n int
	if err := w.QueryRowContext(ctx, `SELECT count(*) FROM things`).Scan(&n); err != nil || n != 1 {
		t.Errorf("rows in the transaction after the failures: %d, %v; want 1", n, err)
	}
	if err := w.Rollback(); err != nil {
		t.Fatal(err)
	}
	if c := count(t, r); c != 0 {
		t.Errorf("%d rows after the rollback, want 0", c)
	}
}

// TestWriterAfterSQLiteRolledBack: SQLite may end a transaction by itself
// (an I/O error, out of memory; here a ROLLBACK run inside it). Rollback is
// then a no-op, not an error, and the next transaction begins as usual.
func TestWriterAfterSQLiteRolledBack(t *testing.T) {
	w, r := writerDB(t)
	ctx := context.Background()
	if err := w.Begin(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO things VALUES ('lost', 1, NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err == nil {
		t.Error("Commit of a transaction SQLite rolled back succeeded; want an error")
	}
	if err := w.Rollback(); err != nil {
		t.Errorf("Rollback with no transaction left: %v, want nil", err)
	}
	if err := w.Begin(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO things VALUES ('kept', 1, NULL)`); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	var id string
	if err := r.QueryRow(`SELECT group_concat(id) FROM things`).Scan(&id); err != nil || id != "kept" {
		t.Errorf("committed: %q, %v; want only kept", id, err)
	}
}

// TestWriterOnceKeepsNothing: statements whose text varies (a bulk
// import's) are not kept prepared; kept ones are prepared once.
func TestWriterOnceKeepsNothing(t *testing.T) {
	w, _ := writerDB(t)
	ctx := context.Background()
	before := len(w.c.stmts)
	for i := range 20 {
		in := strings.TrimSuffix(strings.Repeat("?, ", i+1), ", ")
		args := make([]any, i+1)
		for k := range args {
			args[k] = fmt.Sprint(k)
		}
		rows, err := w.Once().QueryContext(ctx, `SELECT id FROM things WHERE id IN (`+in+`)`, args...)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if _, err := w.Once().ExecContext(ctx, `DELETE FROM things WHERE id IN (`+in+`)`, args...); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(w.c.stmts); n != before {
		t.Errorf("%d statements kept after 40 run once, want %d", n, before)
	}
	for range 3 {
		if _, err := w.ExecContext(ctx, `DELETE FROM things WHERE n = $1`, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(w.c.stmts); n != before+1 {
		t.Errorf("%d statements kept after one run three times, want %d", n, before+1)
	}
}

// TestWriterClosed: a writer closed says so.
func TestWriterClosed(t *testing.T) {
	w, _ := writerDB(t)
	w.Close()
	if _, err := w.ExecContext(context.Background(), `DELETE FROM things`); !errors.Is(err, errWriterClosed) {
		t.Errorf("Exec on a closed writer: %v, want %v", err, errWriterClosed)
	}
	if err := w.Begin(); err == nil {
		t.Error("Begin on a closed writer succeeded")
	}
	if err := w.Rollback(); err != nil {
		t.Errorf("Rollback on a closed writer: %v, want nil", err)
	}
}

// TestTwoStoresWriteOneFile: two stores on one file (a server and a
// `doorway` command beside it) each write through a writer of their own;
// one waits for the other's transaction (busy_timeout), and every write
// lands.
func TestTwoStoresWriteOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "doorway.db")
	var stores []interface {
		CreateUser(context.Context, *doorway.User) error
		Close() error
	}
	for range 2 {
		db, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stores = append(stores, db)
	}
	const each = 100
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for s, db := range stores {
		for i := range each {
			wg.Go(func() {
				u := &doorway.User{ID: fmt.Sprintf("usr_%d_%d", s, i), Email: fmt.Sprintf("u%d.%d@example.com", s, i),
					PasswordHash: "x", CreatedAt: time.Now()}
				if err := db.CreateUser(ctx, u); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a write beside the other store's: %v", err)
	}
	r, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n int
	if err := r.QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil || n != 2*each {
		t.Errorf("users written: %d, %v; want %d", n, err, 2*each)
	}
}

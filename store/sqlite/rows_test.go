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

	"github.com/doorwayhq/doorway"
)

// rowsDB is a database file with one table, written through the driver
// as the store's writer writes, and a rowReader on it.
func rowsDB(t *testing.T) (*sql.DB, *rowReader) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rows.db")
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	t.Cleanup(func() { w.Close() })
	if _, err := w.Exec(`CREATE TABLE things (id TEXT PRIMARY KEY, n INTEGER, f REAL, b BLOB, note TEXT, mode TEXT NOT NULL DEFAULT 'live') WITHOUT ROWID`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`INSERT INTO things (id, n, f, b, note) VALUES ('a', 7, 1.5, x'00ff', NULL), ('b', NULL, NULL, NULL, 'héllo'), ('', 0, 0, x'', '')`); err != nil {
		t.Fatal(err)
	}
	r := newRowReader(path, 2)
	t.Cleanup(r.close)
	return w, r
}

// TestRowReaderScansAsDatabaseSQL: each column type into each kind of
// destination the store uses, as database/sql's Row.Scan converts it.
func TestRowReaderScansAsDatabaseSQL(t *testing.T) {
	_, r := rowsDB(t)
	ctx := context.Background()
	var (
		n           int64
		f           float64
		b           []byte
		s, note, id string
		mode        doorway.Mode
		nn          sql.NullInt64
		ns          sql.NullString
		asText      string
		small       int
		anything    any
	)
	if err := r.QueryRow(ctx, `SELECT id, n, f, b, note, mode, n, note FROM things WHERE id = $1`, "b").
		Scan(&id, &nn, &f, &b, &note, &mode, &ns, &s); err == nil {
		t.Fatal("NULL f scanned into a float64 without an error")
	} else if !strings.Contains(err.Error(), "NULL") {
		t.Fatalf("NULL into float64: %v; want an error that says NULL", err)
	}
	err := r.QueryRow(ctx, `SELECT id, n, f, b, note, mode, n, n, n, n FROM things WHERE id = $1`, "a").
		Scan(&id, &n, &f, &b, &ns, &mode, &nn, &asText, &small, &anything)
	if err != nil {
		t.Fatal(err)
	}
	if id != "a" || n != 7 || f != 1.5 || string(b) != "\x00\xff" || ns.Valid || mode != "live" ||
		nn != (sql.NullInt64{Int64: 7, Valid: true}) || asText != "7" || small != 7 || anything != int64(7) {
		t.Fatalf("row a = %q %d %v %q %+v %q %+v %q %d %#v", id, n, f, b, ns, mode, nn, asText, small, anything)
	}
	if err := r.QueryRow(ctx, `SELECT note, b, n FROM things WHERE id = $1`, "b").Scan(&ns, &b, &nn); err != nil {
		t.Fatal(err)
	}
	if ns != (sql.NullString{String: "héllo", Valid: true}) || b != nil || nn.Valid {
		t.Fatalf("row b = %+v %q %+v; want the text, a nil blob, a NULL integer", ns, b, nn)
	}
	// Empty text and an empty blob are not NULL.
	if err := r.QueryRow(ctx, `SELECT id, b, note FROM things WHERE id = ''`).Scan(&id, &b, &note); err != nil {
		t.Fatal(err)
	}
	if id != "" || b == nil || len(b) != 0 || note != "" {
		t.Fatalf("row '' = %q %#v %q; want empty text, an empty non-nil blob, empty text", id, b, note)
	}
}

// TestRowReaderBindsByNumber: $N names the Nth argument wherever it is
// and however often it appears; a named type binds as its underlying
// type; a missing argument, a type SQLite cannot store and a statement
// that writes are errors, not a row.
func TestRowReaderBindsByNumber(t *testing.T) {
	_, r := rowsDB(t)
	ctx := context.Background()
	var id string
	if err := r.QueryRow(ctx, `SELECT id FROM things WHERE n = $2 AND id = $1 AND id = $1 AND mode = $3`, "a", 7, doorway.Live).Scan(&id); err != nil || id != "a" {
		t.Fatalf("$2 before $1, $1 twice: %q, %v; want a", id, err)
	}
	if err := r.QueryRow(ctx, `SELECT id FROM things WHERE id = ? AND n = ?`, "a", int64(7)).Scan(&id); err != nil || id != "a" {
		t.Fatalf("bare ?: %q, %v; want a", id, err)
	}
	if err := r.QueryRow(ctx, `SELECT id FROM things WHERE id = $1`, "nobody").Scan(&id); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("no row: %v; want sql.ErrNoRows", err)
	}
	for _, c := range []struct {
		query string
		args  []any
		want  string
	}{
		{`SELECT id FROM things WHERE id = $1 AND n = $2`, []any{"a"}, "wants $2, given 1 arguments"},
		{`SELECT id FROM things WHERE id = $1`, []any{struct{}{}}, "argument $1"},
		{`SELECT id FROM things WHERE id = :name`, []any{"a"}, "parameter :name"},
		{`SELECT colour FROM things`, nil, "no such column: colour"},
		{`DELETE FROM things WHERE id = $1 RETURNING id`, []any{"a"}, "readonly"},
	} {
		err := r.QueryRow(ctx, c.query, c.args...).Scan(&id)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: %v; want an error with %q", c.query, c.args, err, c.want)
		}
	}
	var n int64
	if err := r.QueryRow(ctx, `SELECT count(*) FROM things`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("after the refused DELETE: %d rows, %v; want all 3", n, err)
	}
}

// TestRowReaderSeesEveryCommit: a read that starts after a write has
// committed sees it, from every connection, while other readers run.
func TestRowReaderSeesEveryCommit(t *testing.T) {
	w, r := rowsDB(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				id := fmt.Sprintf("g%d-%d", g, i)
				if _, err := w.Exec(`INSERT INTO things (id, n) VALUES ($1, $2)`, id, i); err != nil {
					errs <- err
					return
				}
				var n int64
				if err := r.QueryRow(ctx, `SELECT n FROM things WHERE id = $1`, id).Scan(&n); err != nil || n != int64(i) {
					errs <- fmt.Errorf("read of %s after its commit: %d, %v", id, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRowReaderClosed: close waits for a read in progress, and a read
// after it is an error, not a hang.
func TestRowReaderClosed(t *testing.T) {
	_, r := rowsDB(t)
	var id string
	if err := r.QueryRow(context.Background(), `SELECT id FROM things WHERE id = 'a'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	r.close()
	if err := r.QueryRow(context.Background(), `SELECT id FROM things WHERE id = 'a'`).Scan(&id); !errors.Is(err, errReaderClosed) {
		t.Fatalf("read after close: %v; want %v", err, errReaderClosed)
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/store/sqlstore"
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

// blob is an argument whose driver value is bytes, as a sealed secret's
// type might be.
type blob []byte

func (b blob) Value() (driver.Value, error) { return []byte(b), nil }

// TestRowReaderBindsValuers: a driver.Valuer's value is bound whole, with
// room made for it, however long.
func TestRowReaderBindsValuers(t *testing.T) {
	_, r := rowsDB(t)
	long := blob(strings.Repeat("\x01sealed", 500))
	var n int64
	var same bool
	err := r.QueryRow(context.Background(), `SELECT length($1), $1 = $2`, long, []byte(long)).Scan(&n, &same)
	if err != nil || n != int64(len(long)) || !same {
		t.Fatalf("a %d-byte Valuer bound as %d bytes, equal to itself %v, %v", len(long), n, same, err)
	}
}

// TestRowReaderManyColumns: a row's text is copied out whole however many
// columns it has, past the ones that share one copy (maxTextCols), with
// empty text and blobs between.
func TestRowReaderManyColumns(t *testing.T) {
	_, r := rowsDB(t)
	n := maxTextCols + 8
	cols, want := make([]string, n), make([]string, n)
	for i := range cols {
		switch {
		case i%5 == 3:
			cols[i] = "''"
		case i%5 == 4:
			cols[i] = "x'0001'"
			want[i] = "\x00\x01"
		default:
			want[i] = fmt.Sprintf("column %d: %s", i, strings.Repeat("é", i))
			cols[i] = "'" + want[i] + "'"
		}
	}
	got := make([]string, n)
	dest := make([]any, n)
	for i := range dest {
		dest[i] = &got[i]
	}
	if err := r.QueryRow(context.Background(), `SELECT `+strings.Join(cols, ", ")).Scan(dest...); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("column %d = %q, want %q", i, got[i], want[i])
		}
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

// TestRowReaderQuery: a read of many rows hands them over in the query's
// order, each scanned as QueryRow's; none is no row at all, not an error;
// a query SQLite refuses says why; a commit made between two reads is
// seen by the second; and a caller that has gone is not read for.
func TestRowReaderQuery(t *testing.T) {
	w, r := rowsDB(t)
	ctx := context.Background()
	list := func(q string, args ...any) ([]string, error) {
		rows, err := r.Query(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var id string
			var note sql.NullString
			if err := rows.Scan(&id, &note); err != nil {
				return nil, err
			}
			got = append(got, fmt.Sprintf("%s:%s", id, note.String))
		}
		return got, rows.Err()
	}
	got, err := list(`SELECT id, note FROM things WHERE mode = $1 ORDER BY id DESC`, "live")
	if err != nil || fmt.Sprint(got) != "[b:héllo a: :]" {
		t.Errorf("rows = %v, %v; want b, a and the empty id, in that order", got, err)
	}
	if got, err := list(`SELECT id, note FROM things WHERE n > 100`); err != nil || len(got) != 0 {
		t.Errorf("no rows = %v, %v; want none and no error", got, err)
	}
	if _, err := list(`SELECT id, note FROM nowhere`); err == nil || !strings.Contains(err.Error(), "no such table: nowhere") {
		t.Errorf("a query of a table that is not there: %v, want SQLite's error naming it", err)
	}
	if _, err := w.Exec(`INSERT INTO things (id, note) VALUES ('c', 'new')`); err != nil {
		t.Fatal(err)
	}
	if got, err := list(`SELECT id, note FROM things WHERE note = 'new'`); err != nil || fmt.Sprint(got) != "[c:new]" {
		t.Errorf("after a commit: %v, %v; want c", got, err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Query(gone, `SELECT id, note FROM things`); !errors.Is(err, context.Canceled) {
		t.Errorf("a read for a caller that has gone: %v, want %v", err, context.Canceled)
	}
}

// TestRowReaderReusesTheLastConnection: reads one after another run on
// one connection, the one put back last, so only it is opened; reads at
// once each get their own, all of them in use at the most.
func TestRowReaderReusesTheLastConnection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reuse.db")
	if _, err := Open(context.Background(), path, Options{}); err != nil {
		t.Fatal(err)
	}
	r := newRowReader(path, 4)
	defer r.close()
	opened := func() (n int) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.idle {
			if c.db != 0 {
				n++
			}
		}
		return n
	}
	read := func() {
		var one int
		if err := r.QueryRow(context.Background(), `SELECT 1`).Scan(&one); err != nil || one != 1 {
			t.Errorf("read: %d, %v", one, err)
		}
	}
	for range 20 {
		read()
	}
	if n := opened(); n != 1 {
		t.Fatalf("20 reads one after another opened %d connections, want 1", n)
	}
	// Four reads held at once (each takes a connection and keeps it)
	// open the other three.
	var held []*rawConn
	for range 4 {
		held = append(held, r.take())
	}
	for _, c := range held {
		if err := c.open(path, readOnly); err != nil {
			t.Fatal(err)
		}
		if err := c.queryRow(`SELECT 1`, nil, true, &row{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range held {
		r.put(c)
	}
	if n := opened(); n != 4 {
		t.Fatalf("4 reads at once left %d connections opened, want 4", n)
	}
	// And the one put back last is the next one taken.
	last := held[len(held)-1]
	if c := r.take(); c != last {
		t.Errorf("the next read took another connection than the one put back last")
	} else {
		r.put(c)
	}
}

// TestRowReaderCannotOpen: a database that cannot be opened is an error
// that names it, on every read, not a panic or a hang.
func TestRowReaderCannotOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "doorway.db")
	r := newRowReader(path, 1)
	defer r.close()
	for range 2 {
		var id string
		err := r.QueryRow(context.Background(), `SELECT 'x'`).Scan(&id)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("read of a database that cannot be opened: %v; want an error naming %s", err, path)
		}
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
	if _, err := r.Query(context.Background(), `SELECT id FROM things`); !errors.Is(err, errReaderClosed) {
		t.Fatalf("read of many rows after close: %v; want %v", err, errReaderClosed)
	}
}

// BenchmarkReadByKey reads rows shaped like installations (13 columns,
// WITHOUT ROWID, 10,000 of them) by key at random, through database/sql's
// read pool as the store did and through rowReader as it does (make
// bench-token).
func BenchmarkReadByKey(b *testing.B) {
	path := filepath.Join(b.TempDir(), "read.db")
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	if _, err := w.Exec(`CREATE TABLE installations (id TEXT PRIMARY KEY, app_id TEXT NOT NULL, tenant_id TEXT NOT NULL,
		mode TEXT NOT NULL, status TEXT NOT NULL, version_id TEXT NOT NULL, permissions TEXT NOT NULL, installed_by TEXT NOT NULL,
		event_seq INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, grant_id TEXT NOT NULL,
		grant_revoked_at INTEGER) WITHOUT ROWID`); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 10_000)
	tx, _ := w.Begin()
	for i := range ids {
		ids[i] = fmt.Sprintf("ins_%026d", i*7919%10_007)
		if _, err := tx.Exec(`INSERT INTO installations VALUES ($1, 'app_01JX', $2, 'live', 'active', 'ver_01JX', 'site.read site.write',
			'usr_01JX', 1, 1700000000000, 1700000000000, 'gr_01JX', NULL)`, ids[i], fmt.Sprintf("tnt_%026d", i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	const q = `SELECT id, app_id, tenant_id, mode, status, version_id, permissions, installed_by, event_seq, created_at,
		updated_at, grant_id, grant_revoked_at FROM installations WHERE id = $1`
	read := func(b *testing.B, row func(id string) sqlstore.Row) {
		var (
			s                    [9]string
			seq, created, update int64
			revoked              sql.NullInt64
		)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i = (i + 7) % len(ids)
			if err := row(ids[i]).Scan(&s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6], &s[7], &seq, &created, &update, &s[8], &revoked); err != nil {
				b.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	b.Run("database-sql", func(b *testing.B) {
		r, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		st, err := r.Prepare(q)
		if err != nil {
			b.Fatal(err)
		}
		read(b, func(id string) sqlstore.Row { return st.QueryRowContext(ctx, id) })
	})
	b.Run("row-reader", func(b *testing.B) {
		rr := newRowReader(path, 1)
		defer rr.close()
		read(b, func(id string) sqlstore.Row { return rr.QueryRow(ctx, q, id) })
	})
}

// BenchmarkReadBesideCommits: a read by key, as BenchmarkReadByKey's,
// after a commit to another table by another connection, as a session's
// read meets the install flow's writes in the server. read-ns/op is the
// read alone.
func BenchmarkReadBesideCommits(b *testing.B) {
	path := filepath.Join(b.TempDir(), "read.db")
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID`,
		`CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`,
	} {
		if _, err := w.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]string, 10_000)
	tx, _ := w.Begin()
	for i := range ids {
		ids[i] = fmt.Sprintf("ses_%026d", i*7919%10_007)
		if _, err := tx.Exec(`INSERT INTO sessions VALUES ($1, $2, 1700000000000)`, ids[i], fmt.Sprintf("usr_%026d", i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	insert, err := w.Prepare(`INSERT INTO events (body) VALUES ($1)`)
	if err != nil {
		b.Fatal(err)
	}
	rr := newRowReader(path, 1)
	defer rr.close()
	ctx := context.Background()
	body := strings.Repeat("x", 300)
	var (
		user    string
		expires int64
		reads   time.Duration
	)
	i := 0
	for b.Loop() {
		if _, err := insert.Exec(body); err != nil {
			b.Fatal(err)
		}
		i = (i + 7) % len(ids)
		start := time.Now()
		if err := rr.QueryRow(ctx, `SELECT user_id, expires_at FROM sessions WHERE id = $1`, ids[i]).Scan(&user, &expires); err != nil {
			b.Fatal(err)
		}
		reads += time.Since(start)
	}
	// The commits are not what is measured, and stopping the timer
	// around each would cost more than a read.
	b.ReportMetric(float64(reads.Nanoseconds())/float64(b.N), "read-ns/op")
}

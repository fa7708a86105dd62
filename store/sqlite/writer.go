package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	lib "modernc.org/sqlite/lib"

	"github.com/doorwayhq/doorway/store/sqlstore"
)

// writer is the store's one write connection (sqlstore.Dialect.Writer):
// group commit runs every write transaction on it, through SQLite's C API
// as the row reader does (rows.go), instead of through database/sql and
// the driver.
//
// Why: an install is about twenty statements on the writer (BEGIN, a
// savepoint and its release around each of its transactions, the
// approval's six writes, the code's redemption, the webhook's record), and
// every write waits for the writer. In-process, a savepoint, two INSERTs
// of seven columns (one RETURNING them) and the release cost 67–82 µs
// through database/sql and 31–36 µs here, with 27 allocations instead of
// 114 (BENCHMARKS.md). What it no longer pays for is what the row reader
// spares a read: database/sql's transaction and statement bookkeeping (a
// transaction's statement is a new *sql.Stmt every time), the driver's
// column names and types copied for every query, each value boxed, and a C
// string allocated and freed for every text argument.
//
// Only group commit's goroutine uses it, one statement at a time, so the
// connection is opened NOMUTEX and ignores contexts: a write it has begun
// runs to its end, as group commit already made database/sql's do.
type writer struct {
	c         rawConn
	wal       bool // the database is in WAL mode: its WAL writes are gathered (walwrite.go)
	syncLater bool // commits do not fsync the WAL (synchronous=NORMAL): its syncer does, shortly after (walsync.go)
	once      onceWriter
}

// writerSetup is how the writer's connection is set up, besides WAL mode
// (see the package comment for each pragma's why).
func writerSetup(sync string) []string {
	return []string{
		"PRAGMA synchronous = " + sync,
		"PRAGMA foreign_keys = 1",
		"PRAGMA wal_autocheckpoint = 0",
		"PRAGMA temp_store = MEMORY",
		fmt.Sprintf("PRAGMA cache_size = %d", -writerCacheKiB),
	}
}

func openWriter(path, sync string) (*writer, error) {
	w := &writer{}
	w.once = onceWriter{w}
	if err := w.c.open(path, writerSetup(sync)); err != nil {
		return nil, fmt.Errorf("open sqlite database %s for writing: %w", path, err)
	}
	var mode string
	if err := w.queryRow(`PRAGMA journal_mode = WAL`, nil, false).Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite database %s for writing: %w", path, err)
	}
	w.wal = mode == "wal"
	w.syncLater = sync == "NORMAL"
	return w, nil
}

// Begin takes the write lock at once (BEGIN IMMEDIATE, as the write pool's
// _txlock): a transaction that reads first and upgrades later can fail
// with SQLITE_BUSY_SNAPSHOT.
func (w *writer) Begin() error {
	if err := w.run("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if w.wal {
		// The WAL is open now; SQLite may have opened another since the
		// last transaction.
		gatherWALWrites(w.c.tls, w.c.db, w.c.out, w.syncLater)
	}
	return nil
}

func (w *writer) Commit() error { return w.run("COMMIT") }

// checkpoint copies the WAL into the database file as far as no reader
// needs it (PASSIVE), between transactions (see checkpoint in sqlite.go).
func (w *writer) checkpoint() { w.run("PRAGMA wal_checkpoint(PASSIVE)") }

func (w *writer) run(q string) error {
	if w.c.db == 0 {
		return errWriterClosed
	}
	return w.c.run(q)
}

// Rollback rolls back the transaction, if there still is one: SQLite may
// have rolled it back already (on an I/O error, say), and a commit ends it.
func (w *writer) Rollback() error {
	if w.c.db == 0 || lib.Xsqlite3_get_autocommit(w.c.tls, w.c.db) != 0 {
		return nil
	}
	return w.c.run("ROLLBACK")
}

func (w *writer) Close() error {
	w.c.close()
	return nil
}

func (w *writer) ExecContext(_ context.Context, q string, args ...any) (sql.Result, error) {
	return w.exec(q, args, true)
}

func (w *writer) QueryRowContext(_ context.Context, q string, args ...any) sqlstore.Row {
	return w.queryRow(q, args, true)
}

func (w *writer) QueryContext(_ context.Context, q string, args ...any) (sqlstore.Rows, error) {
	return w.query(q, args, true)
}

// Once is the writer for statements whose text varies: each is prepared,
// run and finalized.
func (w *writer) Once() sqlstore.Conn { return w.once }

type onceWriter struct{ w *writer }

func (o onceWriter) ExecContext(_ context.Context, q string, args ...any) (sql.Result, error) {
	return o.w.exec(q, args, false)
}

func (o onceWriter) QueryRowContext(_ context.Context, q string, args ...any) sqlstore.Row {
	return o.w.queryRow(q, args, false)
}

func (o onceWriter) QueryContext(_ context.Context, q string, args ...any) (sqlstore.Rows, error) {
	return o.w.query(q, args, false)
}

var errWriterClosed = errors.New("sqlite: the store's writer is closed")

func (w *writer) exec(q string, args []any, keep bool) (sql.Result, error) {
	if w.c.db == 0 {
		return nil, errWriterClosed
	}
	s, done, err := w.c.start(q, args, keep)
	if err != nil {
		return nil, err
	}
	defer done()
	if err := w.c.steps(s, q); err != nil {
		return nil, err
	}
	c := &w.c
	return result{lib.Xsqlite3_last_insert_rowid(c.tls, c.db), lib.Xsqlite3_changes64(c.tls, c.db)}, nil
}

func (w *writer) queryRow(q string, args []any, keep bool) sqlstore.Row {
	r := &row{err: errWriterClosed}
	if w.c.db != 0 {
		r.err = w.c.queryRow(q, args, keep, r)
	}
	return r
}

func (w *writer) query(q string, args []any, keep bool) (sqlstore.Rows, error) {
	if w.c.db == 0 {
		return nil, errWriterClosed
	}
	return w.c.queryAll(context.Background(), q, args, keep)
}

// result is what a statement changed (sql.Result).
type result struct{ id, changes int64 }

func (r result) LastInsertId() (int64, error) { return r.id, nil }
func (r result) RowsAffected() (int64, error) { return r.changes, nil }

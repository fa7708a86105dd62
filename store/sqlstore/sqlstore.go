// Package sqlstore is the store.Store that Doorway's SQL backends share: the
// Go side of every operation (transactions, scans, the checks that make a
// code single-use), written once against database/sql.
//
// Most of the SQL text is shared as well: both backends bind $1…$N, and
// RETURNING, ON CONFLICT … DO UPDATE and partial indexes work on SQLite and
// PostgreSQL alike. Where the dialects really differ, the backend owns that
// statement and hands it over in a Dialect; nothing here rewrites one
// dialect into another. Each backend also owns its schema (the column types
// differ: INTEGER against BIGINT and BOOLEAN) and how it opens and pools
// connections.
//
// Times are stored as Unix milliseconds in both backends, so that a time
// reads back the same from either and comparisons are integer comparisons.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/doorwayhq/doorway/store"
)

// Dialect is what a backend supplies.
type Dialect struct {
	// Unique and ForeignKey recognise the driver's constraint violations.
	Unique, ForeignKey func(error) bool
	// BadText, if set, recognises text the database cannot store.
	BadText func(error) bool
	// ClaimEvents leases due events. Its arguments are $1 the owner, $2
	// the lease's end, $3 now and $4 the limit; it returns EventColumns.
	// Only the lowest pending sequence of an installation may be claimed.
	ClaimEvents string
	// ClaimSetup, if set, runs first in the claim's transaction.
	ClaimSetup string
	// Prepare: prepare each statement once per connection and reuse it.
	Prepare bool
	// Batch: concurrent write transactions share one commit (the backend
	// has one writer; see batch.go).
	Batch bool
	// OneTrip: the database runs INSERT and UPDATE inside WITH, so a
	// transaction of several writes can be sent as one statement: one
	// round trip instead of one per statement plus BEGIN and COMMIT. The
	// approval, the code redemption and the webhook record are sent so (an
	// install: 28 round trips down to about 15, and on
	// PostgreSQL 30 % less of doorway's CPU and 18 % less of the
	// database's). Refusals take the transaction, which finds out why.
	OneTrip bool
	// OneTripRow, if set, sends OneTrip's one-statement writes in place
	// of the write pool, and may send those that arrive at once together,
	// committed together (store/postgres's together.go). Its Row's Scan
	// sends the statement.
	OneTripRow func(ctx context.Context, query string, args ...any) Row
	// Rows, if set, runs the reads of the read pool (QueryRowContext and
	// QueryContext outside a transaction) instead of database/sql:
	// store/sqlite reads them through SQLite's C API.
	Rows RowReader
	// Writer, if set, is the connection group commit (Batch) runs every
	// write transaction on, in place of the write pool: store/sqlite's
	// goes through SQLite's C API, where database/sql and the driver had
	// cost about as much as the statements themselves. Writes that are
	// not in a transaction of their own then go through group commit too,
	// so that the Writer is the one connection that writes. Close closes
	// it.
	Writer Writer
	// LastInsertID: an INSERT's result reports the integer key of the row
	// it wrote (SQLite's rowid), so the key need not be read back with
	// RETURNING, which SQLite runs through a temporary table of its own:
	// an INSERT of a short row, 5 µs alone, took 14 with RETURNING.
	LastInsertID bool
	// InstallationKeys: the backend keeps installations in a table keyed
	// by id_key, an integer (see InstallationKeys), as well as by id; new
	// installations are written with it and an installation read by id
	// looks it up by key. Only the transaction path writes it (not OneTrip).
	InstallationKeys bool
	// Anonymous: statements built with many parameters use ? rather than
	// $N. (The SQLite driver looks each $N up by name in a list, which made
	// a 400-row INSERT seven times slower than twenty 20-row ones.)
	Anonymous bool
}

// EventColumns are the columns a ClaimEvents statement returns, in order.
const EventColumns = eventCols

// DB is a store.Store on two pools: w for writes and r for reads. A
// backend with one pool passes it twice.
type DB struct {
	w, r    *pool
	d       Dialect
	onClose []func()

	batch           chan *batchTx // Dialect.Batch: to the committing goroutine
	closed, stopped chan struct{}

	versions  sync.Map // id → *doorway.AppVersion; see version
	nversions atomic.Int64
	apps      sync.Map // id → cachedApp; see App
	napps     atomic.Int64
	appGen    atomic.Int64 // changes to apps through this store
}

// OnClose has Close run f first (a backend's own background work).
func (db *DB) OnClose(f func()) { db.onClose = append(db.onClose, f) }

// New returns the store over w and r.
func New(w, r *sql.DB, d Dialect) *DB {
	if d.Writer != nil && (!d.Batch || d.OneTrip) {
		panic("sqlstore: a Dialect's Writer runs group commit's transactions: it needs Batch, and OneTrip's statements would bypass it")
	}
	if d.InstallationKeys && d.OneTrip {
		panic("sqlstore: a Dialect with OneTrip cannot keep InstallationKeys: the one-statement approval does not write them")
	}
	db := &DB{w: &pool{DB: w, prepare: d.Prepare}, d: d}
	db.r = db.w
	if r != w || d.Rows != nil {
		db.r = &pool{DB: r, prepare: d.Prepare, rows: d.Rows}
	}
	if d.Batch {
		db.batch, db.closed, db.stopped = make(chan *batchTx), make(chan struct{}), make(chan struct{})
		go db.commits()
	}
	return db
}

// Close closes both pools.
func (db *DB) Close() error {
	for _, f := range db.onClose {
		f()
	}
	if db.batch != nil {
		close(db.closed)
		<-db.stopped
	}
	var err error
	if db.d.Writer != nil {
		err = db.d.Writer.Close()
	}
	if werr := db.w.Close(); err == nil {
		err = werr
	}
	if db.r.DB != db.w.DB {
		if rerr := db.r.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// oneTrip returns the row of OneTrip's one-statement write q.
func (db *DB) oneTrip(ctx context.Context, q string, args ...any) Row {
	if db.d.OneTripRow != nil {
		return db.d.OneTripRow(ctx, q, args...)
	}
	return db.w.QueryRowContext(ctx, q, args...)
}

// Ping runs a query on the write pool. Under group commit (SQLite) it
// also runs an empty write transaction through it: a node whose writes
// cannot commit (its committing goroutine stuck, or another process
// holding the database's write lock) is not ready, though it still reads.
// It answers when ctx ends, even while that transaction waits.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.w.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil || db.batch == nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- db.tx(ctx, func(txn) error { return nil }) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no write committed within the time allowed: %w", ctx.Err())
	}
}

// tx runs fn in a write transaction.
func (db *DB) tx(ctx context.Context, fn func(txn) error) error {
	if db.batch != nil {
		return db.batched(ctx, fn, false)
	}
	return db.single(ctx, fn)
}

// bigTx is tx for a transaction of many rows, which group commit runs by
// itself.
func (db *DB) bigTx(ctx context.Context, fn func(txn) error) error {
	if db.batch != nil {
		return db.batched(ctx, fn, true)
	}
	return db.single(ctx, fn)
}

// single runs fn in a write transaction of its own.
func (db *DB) single(ctx context.Context, fn func(txn) error) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.end()
	if err := fn(tx.txn(ctx)); err != nil {
		return err
	}
	return tx.commit()
}

// writeRow runs fn, which runs one writing statement and scans what it
// returns, on the write pool, or in a transaction of its own when group
// commit runs the writes (which may share it).
func (db *DB) writeRow(ctx context.Context, fn func(Conn) error) error {
	if db.batch == nil {
		return fn(db.w)
	}
	return db.tx(ctx, func(t txn) error { return fn(t) })
}

// exec runs one writing statement, in a transaction of its own (which
// group commit may share).
func (db *DB) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if db.batch == nil {
		return db.w.ExecContext(ctx, q, args...)
	}
	var res sql.Result
	err := db.tx(ctx, func(t txn) error {
		var err error
		res, err = t.ExecContext(ctx, q, args...)
		return err
	})
	return res, err
}

// notFound maps sql.ErrNoRows to store.ErrNotFound, naming what was sought.
// A key the database cannot even hold as text (PostgreSQL refuses NUL bytes
// and invalid UTF-8) names nothing that exists either.
func (db *DB) notFound(err error, what, id string) error {
	if errors.Is(err, sql.ErrNoRows) || err != nil && db.d.BadText != nil && db.d.BadText(err) {
		return fmt.Errorf("%s %q: %w", what, id, store.ErrNotFound)
	}
	return err
}

// conflict maps a unique-constraint violation to store.ErrConflict.
func (db *DB) conflict(err error, what string) error {
	if err != nil && db.d.Unique(err) {
		return fmt.Errorf("%s: %w", what, store.ErrConflict)
	}
	return err
}

// ms and fromMS convert times to and from the stored Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// nullMS stores the zero time as NULL.
func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

// Row is one row to scan: what QueryRowContext read, or the error that
// stopped it (sql.ErrNoRows when there was none), or a *sql.Rows at its
// current row.
type Row interface{ Scan(dest ...any) error }

// RowReader reads a query's first row, or all of its rows (Dialect.Rows).
type RowReader interface {
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// collect scans every row of a query with scan.
func collect[T any](rows Rows, err error, scan func(Row) (*T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

var _ store.Store = (*DB)(nil)

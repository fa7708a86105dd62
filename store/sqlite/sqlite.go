// Package sqlite is Doorway's default store: one file, no server, pure Go
// (modernc.org/sqlite, no cgo).
//
// It keeps two pools. All writes go through one connection, so writers queue
// in Go instead of failing with "database is locked", and every transaction
// starts with BEGIN IMMEDIATE (a deferred transaction that later upgrades to
// a write can fail with SQLITE_BUSY_SNAPSHOT). Reads use a pool of read-only
// connections that WAL lets run beside the writer.
//
// Pragmas, and why:
//   - journal_mode=WAL: readers never block the writer, nor the writer them.
//   - synchronous=NORMAL: in WAL mode a commit survives a crash of the
//     process (the WAL is written before COMMIT returns); only a power loss
//     or kernel crash can lose the last commits. Set DOORWAY_SQLITE_SYNC=FULL
//     (Options.Synchronous) to fsync every commit too.
//   - busy_timeout=5000: the CLI and the server share the file; a short
//     wait beats an error.
//   - foreign_keys=1: SQLite leaves them off by default.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"net/url"
	"runtime"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/doorwayhq/doorway/store/sqlmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a SQLite store. It implements store.Store.
type DB struct {
	w, r *sql.DB
}

// Options tune Open.
type Options struct {
	Synchronous string // "NORMAL" (default) or "FULL"
}

// Open opens (creating if needed) the database at path and brings its
// schema up to date.
func Open(ctx context.Context, path string, opt Options) (*DB, error) {
	sync := opt.Synchronous
	if sync == "" {
		sync = "NORMAL"
	}
	if sync != "NORMAL" && sync != "FULL" {
		return nil, fmt.Errorf("sqlite synchronous %q: use NORMAL or FULL", sync)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	db := &DB{w: w}
	// The writer creates the file and the WAL before any reader opens it.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	ms, err := sqlmigrate.Load(migrations, "migrations")
	if err == nil {
		_, err = sqlmigrate.Up(ctx, w, ms, "", time.Now)
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("migrate sqlite database %s: %w", path, err)
	}

	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout(5000)")
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, err
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.r = r
	return db, nil
}

// Migrate applies pending migrations and returns their names; Open does
// this too, so this is for `doorway migrate`, which reports what it did.
func Migrate(ctx context.Context, path string) ([]string, error) {
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	ms, err := sqlmigrate.Load(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return sqlmigrate.Up(ctx, w, ms, "", time.Now)
}

// Close closes both pools.
func (db *DB) Close() error {
	rerr := db.r.Close()
	if err := db.w.Close(); err != nil {
		return err
	}
	return rerr
}

// tx runs fn in a write transaction.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
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

// collect scans every row of a query with scan.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (*T, error)) ([]T, error) {
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

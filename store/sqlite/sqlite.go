// Package sqlite is Doorway's default store: one file, no server, pure Go
// (modernc.org/sqlite, no cgo).
//
// All writes go through one connection, the writer (writer.go), so writers
// queue in Go instead of failing with "database is locked": group commit
// (see sqlstore) runs every write transaction on it through SQLite's C API,
// and each starts with BEGIN IMMEDIATE (a deferred transaction that later
// upgrades to a write can fail with SQLITE_BUSY_SNAPSHOT). Reads use
// read-only connections that WAL lets run beside the writer, through
// SQLite's C API (rowReader, rows.go). One more connection keeps a read
// transaction open (walPin, pin.go), which spares every other read the
// system calls of its WAL read lock. A database/sql pool of one read-only
// connection answers the health check.
//
// Pragmas, and why:
//   - journal_mode=WAL: readers never block the writer, nor the writer them.
//   - synchronous=NORMAL: in WAL mode a commit survives a crash of the
//     process (the WAL is written before COMMIT returns); only a power loss
//     or kernel crash can lose the last commits, those of the last 50 ms or
//     so (the WAL's syncer fdatasyncs it walSyncEvery after a write,
//     walsync.go). Set DOORWAY_SQLITE_SYNC=FULL (Options.Synchronous)
//     to fsync every commit too.
//   - busy_timeout=5000: the CLI and the server share the file; a short
//     wait beats an error.
//   - foreign_keys=1: SQLite leaves them off by default.
//   - temp_store=MEMORY on the writer: the undo copies of pages that a
//     savepoint or a multi-row statement keeps (the sub-journal) stay in
//     memory instead of spilling to a temporary file, one write(2) per page,
//     past 64 KiB. SQLite trims that journal by walking it from the start,
//     so a transaction of thousands of statements inside one savepoint
//     grows quadratic: group commit runs bulk imports alone, outside any
//     savepoint (see sqlstore).
//   - cache_size on the writer: see writerCacheKiB.
//   - wal_autocheckpoint=0 on the writer: a checkpoint copies the WAL back
//     into the database file and fsyncs it, which took the one writer away
//     from every other write for milliseconds at a time. A background
//     connection checkpoints instead (PASSIVE, so it never blocks the
//     writer or readers), every checkpointEvery, and the writer copies
//     only what it left, once the WAL is large (see checkpoint).
//
// Every connection's page cache is this package's (pagecache.go): SQLite's
// policy, but a cached page costs its size, not twice it. The writer's
// WAL file gathers a commit's frames into one write(2) (walwrite.go), and
// is fdatasynced by a goroutine of its own shortly after it is written, so
// that the checkpoint's fsync does not find a second of it dirty at once
// (walsync.go).
//
// Statements are prepared once per connection (see sqlstore.Dialect):
// SQLite otherwise parses the text on every run. Concurrent write
// transactions share one commit (group commit, see sqlstore), each in its
// own savepoint, and none is acknowledged before that commit.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/doorwayhq/doorway/store/sqlmigrate"
	"github.com/doorwayhq/doorway/store/sqlstore"
)

// doorway_installation_key(id, n) is sqlstore.InstallationKeys(id)'s nth
// key, for migration 0009, which moved installations to a table keyed by it.
func init() {
	if err := installPageCache(); err != nil {
		panic(err)
	}
	msqlite.MustRegisterDeterministicScalarFunction("doorway_installation_key", 2,
		func(_ *msqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			id, ok := args[0].(string)
			n, _ := args[1].(int64)
			if !ok || (n != 1 && n != 2) {
				return nil, fmt.Errorf("doorway_installation_key(%v, %v): want a text id and 1 or 2", args[0], args[1])
			}
			first, second := sqlstore.InstallationKeys(id)
			if n == 1 {
				return first, nil
			}
			return second, nil
		})
}

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune Open.
type Options struct {
	Synchronous string // "NORMAL" (default) or "FULL"
	// Migrating, if set, is told the name of each migration just before
	// Open applies it.
	Migrating func(name string)
}

// Open opens (creating if needed) the database at path and brings its
// schema up to date.
func Open(ctx context.Context, path string, opt Options) (*sqlstore.DB, error) {
	sync := opt.Synchronous
	if sync == "" {
		sync = "NORMAL"
	}
	if sync != "NORMAL" && sync != "FULL" {
		return nil, fmt.Errorf("sqlite synchronous %q: use NORMAL or FULL", sync)
	}
	// Migrations run first, on a connection of their own (see migrate),
	// which also creates the file and the WAL before any reader opens it.
	if _, err := migrate(ctx, path, opt.Migrating); err != nil {
		return nil, fmt.Errorf("migrate sqlite database %s: %w", path, err)
	}
	// database/sql's pool, left with the health check's query: the writer
	// (writer.go) writes and the row reader (rows.go) reads.
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))

	cq := url.Values{}
	cq.Add("_pragma", "busy_timeout(5000)")
	cq.Add("_pragma", "synchronous("+sync+")")
	c, err := sql.Open("sqlite", "file:"+path+"?"+cq.Encode())
	if err != nil {
		w.Close()
		return nil, err
	}
	c.SetMaxOpenConns(1)
	wr, err := openWriter(path, sync)
	if err != nil {
		w.Close()
		c.Close()
		return nil, err
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	rows := newRowReader(path, n)
	d := dialect
	d.Rows = rows
	d.Writer = wr
	db := sqlstore.New(w, w, d)
	go checkpoint(c, db, wr, rows.pin, stop, done)
	db.OnClose(func() {
		close(stop)
		<-done
		c.Close()
		rows.close()
	})
	return db, nil
}

// writerCacheKiB is the writer's page cache. SQLite's default, 2 MB, is
// smaller than the indexes an install touches once the database holds a few
// thousand installations, and every miss is a read system call on the one
// connection every write waits for. The cache fills only as pages are used.
//
// It fills at a million installations. 16 MB cost installs at 10⁶ about
// four points of their rate (beside 10⁴: −9.4 % on average in five runs,
// two past the growth target's −10 %, against −5.2 % in seven with 32 MB;
// BENCHMARKS.md). Full, it is about 33 MB of the server's memory: a
// cached page costs its size and SQLite's header for it (pagecache.go),
// where SQLite's own cache cost twice that.
const writerCacheKiB = 32 << 10

// checkpointEvery is how often the WAL is checkpointed.
const checkpointEvery = time.Second

// walRestartFrames is how many frames the WAL may hold before the writer
// makes it start over (checkpoint): 16,384 frames, 64 MiB of 4 KiB pages
// and their headers. The load benchmark's installs at full speed write
// about 15,000 frames a second, so the WAL starts over every two seconds
// or so, at 17,000–30,000 frames (a 126 MB file, in one run).
var walRestartFrames atomic.Int64

func init() { walRestartFrames.Store(16 << 10) }

// catchUpFrames: a background pass that finds fewer new frames than this
// is the last before the writer's.
const catchUpFrames = 1024

// checkpoint copies committed pages from the WAL into the database file
// every checkpointEvery until stop is closed, and lets the WAL start over
// once it has grown past walRestartFrames.
//
// The background connection c checkpoints first (PASSIVE: it copies what
// no reader still needs and waits for nothing), beside the writer, so the
// copying and its two fsyncs stay off the writes' path; in SQLite's own
// way, the committing connection checkpoints, the one writer left every
// other write waiting for milliseconds at a time. The readers' pin is let
// go meanwhile, or it would keep the checkpoint from copying past its
// snapshot.
//
// But a checkpoint copies the frames committed before it began, never
// those committed while it runs, and the writer starts the WAL over from
// its beginning only when every frame has been copied. Under writes that
// never pause that never happened: the WAL grew by every commit for as
// long as they lasted, by 65 MB a second in the load benchmark's installs
// (a disk fills at any rate that commits during every checkpoint). So once the WAL holds
// walRestartFrames, background passes catch up with what was committed
// during the pass before (until one finds fewer than catchUpFrames new),
// and then the writer itself checkpoints, between two batches of group
// commit: it copies the few hundred frames left, and fsyncs, while no
// write commits (5–19 ms under the benchmark's full load), after which
// the WAL has all been copied and the next write starts it over, unless a
// read that began before is still running (then the next second's
// checkpoint tries again).
func checkpoint(c *sql.DB, db *sqlstore.DB, wr *writer, pin *walPin, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // a checkpoint waiting for the writer gives up when stop closes
		select {
		case <-stop:
		case <-ctx.Done():
		}
		cancel()
	}()
	// pass checkpoints on c and returns how many frames the WAL held when
	// it began (-1 if it failed).
	pass := func() int64 {
		frames := int64(-1)
		pin.around(func() {
			var busy, copied int64
			if err := c.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
				frames = -1
			}
		})
		return frames
	}
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		frames := pass()
		if frames < walRestartFrames.Load() {
			continue
		}
		for range 3 {
			next := pass()
			if next < 0 || next-frames < catchUpFrames {
				break
			}
			frames = next
		}
		db.BetweenCommits(ctx, func() { pin.around(wr.checkpoint) })
	}
}

// Migrate applies pending migrations and returns their names; Open does
// this too, so this is for `doorway migrate`, which reports what it did.
// starting, if not nil, is told each migration's name before it runs.
func Migrate(ctx context.Context, path string, starting func(name string)) ([]string, error) {
	return migrate(ctx, path, starting)
}

// migrate runs the migrations on a connection with foreign keys off:
// SQLite changes a table's definition by rebuilding it, which drops a table
// other tables refer to, and with foreign keys on that DROP deletes its
// rows and fails (https://sqlite.org/lang_altertable.html#otheralter).
// What the foreign keys would have caught is checked after each migration
// instead, in its transaction: a migration that breaks a reference is
// undone.
func migrate(ctx context.Context, path string, starting func(name string)) ([]string, error) {
	m, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(0)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	defer m.Close()
	m.SetMaxOpenConns(1)
	ms, err := sqlmigrate.Load(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return sqlmigrate.Up(ctx, m, ms, sqlmigrate.Options{Check: foreignKeyCheck, Starting: starting})
}

// foreignKeyCheck reports the first row whose reference is broken.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	var table, parent string
	var rowid sql.NullInt64 // NULL for a WITHOUT ROWID table
	var fk int
	err := tx.QueryRowContext(ctx, `PRAGMA foreign_key_check`).Scan(&table, &rowid, &parent, &fk)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	return fmt.Errorf("a row of %s refers to a row of %s that does not exist (PRAGMA foreign_key_check)", table, parent)
}

var dialect = sqlstore.Dialect{
	Unique:     func(err error) bool { return strings.Contains(err.Error(), "UNIQUE constraint failed") },
	ForeignKey: func(err error) bool { return strings.Contains(err.Error(), "FOREIGN KEY constraint failed") },
	// SQLite parses a statement's text on every unprepared run.
	Prepare: true,
	// One writer, whose commits write each page touched: share them.
	Batch: true,
	// Bulk INSERTs: see sqlstore.Dialect.
	Anonymous: true,
	// Installations are kept by an integer key (migration 0009).
	InstallationKeys: true,
	// An INSERT's result has the row's rowid.
	LastInsertID: true,
	// One writer: the UPDATE … WHERE id IN (SELECT …) is atomic without
	// row locks. The limit is (SELECT $4), not $4: SQLite compiles a bare
	// parameter in that LIMIT into the statement and parses the whole
	// statement again whenever its value is bound (four times the cost of
	// the claim).
	ClaimEvents: `UPDATE events SET lease_owner = $1, lease_until = $2
		WHERE id IN (
			SELECT e.id FROM events e
			WHERE e.delivery = 'pending' AND e.next_attempt_at <= $3 AND e.lease_until <= $3
			  AND NOT EXISTS (SELECT 1 FROM events p WHERE p.delivery = 'pending'
			                  AND p.installation_id = e.installation_id AND p.sequence < e.sequence)
			ORDER BY e.next_attempt_at, e.id LIMIT (SELECT $4))
		RETURNING ` + sqlstore.EventColumns,
}

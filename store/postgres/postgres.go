// Package postgres is Doorway's store for more than one machine: any number
// of stateless Doorway nodes on one PostgreSQL database.
//
// Nothing a request needs lives in a node: install requests, sessions,
// signing keys, rate-limit state and the webhook outbox are rows, so a load
// balancer may send each request anywhere. The Go side of every operation is
// shared with SQLite (package sqlstore); this package owns the schema, the
// pool, the claim statement and the error codes.
//
// Concurrency, and why each operation is safe at READ COMMITTED:
//   - single-use things (codes, install requests, install tokens) are spent
//     by one conditional UPDATE; the second writer waits for the first's row
//     lock, re-checks the WHERE clause and changes nothing;
//   - two refreshes of one token at once both land inside the grace period,
//     which is what the grace period allows anyway;
//   - webhook dispatchers claim events with FOR UPDATE SKIP LOCKED, so two
//     nodes never lease the same event and never wait on each other;
//   - migrations run under an advisory lock, so nodes starting together
//     migrate once;
//   - the one-statement writes a node sends at once (approvals, code
//     redemptions, refreshes) share a transaction (together.go); each is
//     safe there for the reasons above, a statement sees the ones before it
//     as it would have seen their commits, and a batch that fails (a
//     deadlock with another node's batch included) is sent again one
//     statement at a time. The reads by key a node sends at once go
//     together too, in a batch of their own; READ COMMITTED gives each
//     its own snapshot as it would alone.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/doorwayhq/doorway/store/sqlmigrate"
	"github.com/doorwayhq/doorway/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune Open.
type Options struct {
	// MaxConns caps the node's connections (default 10). The database's
	// max_connections must cover MaxConns × nodes plus the operator's own.
	MaxConns int
	// Migrating, if set, is told the name of each migration just before
	// Open applies it.
	Migrating func(name string)
}

// IsURL reports whether dsn names a PostgreSQL database rather than a
// SQLite file.
func IsURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// lock keeps nodes that start together from migrating at once (the key is
// arbitrary but fixed: "doorway" in ASCII).
const lock = `SELECT pg_advisory_xact_lock(28270022123544953)`

// Open connects to the database at url and brings its schema up to date.
func Open(ctx context.Context, url string, opt Options) (*sqlstore.DB, error) {
	db, err := connect(ctx, url, opt)
	if err != nil {
		return nil, err
	}
	if _, err := migrate(ctx, db, opt.Migrating); err != nil {
		db.Close()
		return nil, err
	}
	d := dialect
	d.OneTripRow = (&together{db: db, slots: writeSlots, most: writeBatch}).QueryRow
	d.Rows = newReads(db)
	return sqlstore.New(db, db, d), nil
}

// Migrate applies pending migrations and returns their names, for
// `doorway migrate`; starting, if not nil, is told each migration's name
// before it runs.
func Migrate(ctx context.Context, url string, starting func(name string)) ([]string, error) {
	db, err := connect(ctx, url, Options{MaxConns: 1})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return migrate(ctx, db, starting)
}

func connect(ctx context.Context, url string, opt Options) (*sql.DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("postgres database %s: %w", Redact(url), err)
	}
	n := opt.MaxConns
	if n <= 0 {
		n = 10
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	// Recycle connections now and then, so a failover or a PgBouncer
	// restart is followed within minutes even by an idle pool.
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres database %s: %w (is it running, and is the URL right?)", Redact(url), err)
	}
	return db, nil
}

func migrate(ctx context.Context, db *sql.DB, starting func(name string)) ([]string, error) {
	ms, err := sqlmigrate.Load(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	applied, err := sqlmigrate.Up(ctx, db, ms, sqlmigrate.Options{Lock: lock, Starting: starting})
	if err != nil {
		return applied, fmt.Errorf("migrate postgres database: %w", err)
	}
	return applied, nil
}

// Redact hides the password of a database URL, for logs and errors.
func Redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return url
	}
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return url
}

func code(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

var dialect = sqlstore.Dialect{
	OneTrip:    true,
	Unique:     func(err error) bool { return code(err) == "23505" },
	ForeignKey: func(err error) bool { return code(err) == "23503" },
	// character_not_in_repertoire (NUL, invalid UTF-8), untranslatable.
	BadText: func(err error) bool { c := code(err); return c == "22021" || c == "22P05" },
	// SKIP LOCKED: a row another node is claiming right now is passed
	// over, not waited for. The CTE runs once, so LIMIT holds.
	//
	// The pending events are a queue, and a queue defeats the planner's
	// statistics: thousands of events arrive and leave between two
	// ANALYZEs, so it believes there are a handful. It then planned the
	// claim to read every pending event (a bitmap scan, or a hash join for
	// "no earlier pending event"), sort them all and keep the first $4:
	// work that grows with the backlog, 7 ms a claim at 2,300 pending
	// events and 17–32 ms during make bench's scenario b, where it was the
	// database's largest cost per install. What keeps the claim at the
	// batch's size whatever the backlog (0.2 ms a claim):
	//   - the earlier-event check is a scalar subquery, a lookup per
	//     candidate rather than a join the planner may turn into a scan;
	//   - its "p.delivery || ''" keeps it off events_due (a partial index
	//     the planner thinks tiny, so it scanned all of it for each
	//     candidate) and on the (installation_id, sequence) key;
	//   - ClaimSetup, for this transaction only: a plan made for the
	//     actual time (the generic plan of a prepared statement cannot
	//     know which events are due, and its plan cost 32 ms a claim), and
	//     no bitmap scans, so events_due is walked in order and the walk
	//     stops at the limit.
	// TestClaimWalksTheQueueInOrder checks the plan.
	ClaimEvents: `WITH due AS (
			SELECT e.id FROM events e
			WHERE e.delivery = 'pending' AND e.next_attempt_at <= $3 AND e.lease_until <= $3
			  AND e.sequence = (SELECT min(p.sequence) FROM events p
			                    WHERE p.installation_id = e.installation_id AND p.delivery || '' = 'pending')
			ORDER BY e.next_attempt_at, e.id LIMIT $4
			FOR UPDATE OF e SKIP LOCKED)
		UPDATE events SET lease_owner = $1, lease_until = $2
		WHERE id IN (SELECT id FROM due)
		RETURNING ` + sqlstore.EventColumns,
	ClaimSetup: `SELECT set_config('plan_cache_mode', 'force_custom_plan', true), set_config('enable_bitmapscan', 'off', true)`,
}

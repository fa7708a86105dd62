package postgres

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/doorwayhq/doorway/store/sqlstore"
)

// together sends the one-statement queries that arrive at once in one
// pipelined round trip: the one-statement writes (approvals, code
// redemptions, refreshes: sqlstore.Dialect.OneTripRow), committed
// together, and, through a together of their own, the reads by key
// (sqlstore.Dialect.Rows).
//
// Each such query was its own round trip (and a write its own commit),
// and on PostgreSQL those cost nearly as much CPU as the statements
// themselves, on both sides of the socket: in make bench's b, about 310
// µs of the 750 µs of database CPU an install took, against 440 µs of the
// statements' own execution (pg_stat_statements), spent on each
// statement's bind and portal, its snapshot, the commit record and its
// flush, and waking the backend and the node. SQLite's group commit
// shares one commit among the writes waiting; this is the same for
// PostgreSQL. The queries that arrive while others are in flight go in
// one batch, which PostgreSQL runs as one implicit transaction (one
// Sync): their statements in turn, one commit, one flush, and only then
// every caller's answer. Nothing is answered before the commit, so
// durability is as before. In b, beside the build before in the same
// seconds: 1.30× the installs a second, the database's CPU an install
// 750 → 510 µs, the node's 600 → 495 µs (BENCHMARKS.md).
//
// A read alone (an instance token's installation, an introspection's
// grant) had cost the node about as much as the token's signature, most
// of it the system calls that wake PostgreSQL's backend and then the
// node: in make bench's a, profiled, the read took 56 µs of the node's
// 146 µs a token, and the database spent 59 µs more. Reads share a round
// trip the same way, in batches of at most readBatch, so that one slow
// read holds up few others: in a, 1.33× the tokens a second beside the
// build before, in the same seconds, the database's CPU a token 59 → 30
// µs.
//
// A caller that gives up (its context done) while its query waits is
// answered at once with its context's error. Its query, if not yet sent,
// is then never sent; if sent, it runs to its end with its batch (a write
// may commit, as one cancelled in flight could before), and nothing is
// scanned into the caller's variables once it has gone. (The caller that
// found a slot free sends its batch itself, and waits for it: at most
// slots callers of each together, where a database that stops answering
// holds them until the connection fails.)
//
// A statement that fails aborts the batch's transaction, so the others'
// writes are undone with it; each of them is then run again alone, and
// gets the answer it would have had alone. (The statements OneTrip sends
// answer a refusal with no row rather than an error, so this is rare: a
// deadlock between two batches, a constraint the statement did not
// foresee, text PostgreSQL cannot store.) Any other error (the connection
// broke, the commit itself failed) may have come after the commit, so it
// is every caller's answer, as it would be alone.
type together struct {
	db *sql.DB
	// slots bounds the batches in flight: the queries that arrive while
	// that many are in flight wait, and go together in the next. most
	// bounds a batch.
	slots, most int

	mu      sync.Mutex
	waiting []*query
	sending int // batches in flight
}

// A node's writes and reads each go in at most two batches at a time:
// measured in make bench on two cores, four read 0.95× of two, and one
// 1.01×; for reads, three or five slots read 1.18–1.23× of the build
// before them against two slots' 1.33–1.38×. Reads go at most eight to a
// batch: eight, sixteen and thirty-two read alike (1.28–1.38×), and a
// read waits for the reads sent before it in its batch.
const (
	writeSlots = 2
	writeBatch = 32
	readSlots  = 2
	readBatch  = 8
)

// query is one statement sent through together: QueryRow makes it, its
// Scan sends it.
type query struct {
	t    *together
	ctx  context.Context
	q    string
	args []any
	done chan struct{} // closed when answered

	mu   sync.Mutex
	dest []any
	err  error
	left bool // the caller gave up: dest is no longer its to fill
}

// QueryRow returns a row whose Scan sends q.
func (t *together) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return &query{t: t, ctx: ctx, q: q, args: args}
}

func (w *query) Scan(dest ...any) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	w.dest, w.done = dest, make(chan struct{})
	t := w.t
	t.mu.Lock()
	t.waiting = append(t.waiting, w)
	if t.sending < t.slots {
		t.sending++
		t.sendWaiting() // unlocks t.mu
	} else {
		t.mu.Unlock()
	}
	select {
	case <-w.done:
		return w.err
	case <-w.ctx.Done():
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.done:
		return w.err
	default:
		w.left = true
		return w.ctx.Err()
	}
}

// answer scans a row into w's dest with scan, unless w's caller has gone.
func (w *query) answer(scan func(dest ...any) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.left {
		w.err = scan(w.dest...)
	}
}

// fail answers w with err.
func (w *query) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = err
}

// sendWaiting sends what is waiting, with t.mu held and a batch counted in
// t.sending; it unlocks t.mu. When more is waiting once the batch is
// answered, a goroutine sends it, so that no caller waits for others'
// batches after its own. A query whose caller has gone is not sent.
func (t *together) sendWaiting() {
	n := min(len(t.waiting), t.most)
	batch := t.waiting[:n:n]
	t.waiting = t.waiting[n:]
	t.mu.Unlock()
	batch = slices.DeleteFunc(batch, func(w *query) bool {
		if err := w.ctx.Err(); err != nil {
			w.fail(err)
			close(w.done)
			return true
		}
		return false
	})
	if len(batch) > 0 {
		t.send(batch)
	}
	t.mu.Lock()
	if len(t.waiting) == 0 {
		t.sending--
		t.mu.Unlock()
		return
	}
	go t.sendWaiting() // t.mu, still held, passes to it
}

func (t *together) send(batch []*query) {
	defer func() {
		for _, w := range batch {
			close(w.done)
		}
	}()
	// Once sent, the batch runs to its end whatever its callers do.
	ctx := context.WithoutCancel(batch[0].ctx)
	rolledBack, err := t.sendBatch(ctx, batch)
	var pe *pgconn.PgError
	switch {
	case err == nil:
	case len(batch) > 1 && rolledBack && errors.As(err, &pe):
		// Nothing committed: each alone, for its own answer, but for
		// those nobody waits for any more.
		for _, w := range batch {
			if w.ctx.Err() == nil {
				t.sendAlone(ctx, w)
			}
		}
	default:
		for _, w := range batch {
			w.fail(err)
		}
	}
}

// sendAlone sends w's statement by itself.
func (t *together) sendAlone(ctx context.Context, w *query) {
	rows, err := t.db.QueryContext(ctx, w.q, w.args...)
	if err != nil {
		w.fail(err)
		return
	}
	defer rows.Close()
	if !rows.Next() {
		err = rows.Err()
		if err == nil {
			err = sql.ErrNoRows
		}
		w.fail(err)
		return
	}
	w.answer(rows.Scan)
	if err := rows.Close(); err != nil {
		w.fail(err)
	}
}

// sendBatch sends the batch's statements in one pipeline and scans each
// one's first row into its dest (sql.ErrNoRows: none). It returns the
// batch's first error, and whether it was a statement's, which
// PostgreSQL answers before the commit, so that the batch is certainly
// rolled back. An error at the commit itself (the server shutting down,
// say) may have come after the commit was made durable, so no write is
// sent again on it.
func (t *together) sendBatch(ctx context.Context, batch []*query) (rolledBack bool, err error) {
	conn, err := t.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c := dc.(*stdlib.Conn).Conn()
		var b pgx.Batch
		for _, w := range batch {
			b.Queue(w.q, w.args...)
		}
		br := c.SendBatch(ctx, &b)
		for _, w := range batch {
			rows, err := br.Query()
			if err != nil {
				br.Close()
				rolledBack = true
				return err
			}
			if rows.Next() {
				w.answer(rows.Scan)
			} else {
				w.fail(sql.ErrNoRows)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				br.Close()
				rolledBack = true
				return err
			}
		}
		return br.Close()
	})
	return rolledBack, err
}

// reads is the store's reader of rows (sqlstore.Dialect.Rows): a
// together for the reads of one row, database/sql for lists, which are
// not on a hot path.
type reads struct {
	db *sql.DB
	t  *together
}

func newReads(db *sql.DB) reads {
	return reads{db: db, t: &together{db: db, slots: readSlots, most: readBatch}}
}

func (r reads) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return r.t.QueryRow(ctx, q, args...)
}

func (r reads) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	return r.db.QueryContext(ctx, q, args...)
}

package sqlstore

import (
	"context"
	"database/sql"
	"errors"
)

// Group commit, for a backend with one writer (Dialect.Batch).
//
// A SQLite commit writes every page the transaction touched to the WAL, one
// write(2) per page, and an install touches a dozen pages; the one writer
// spent most of its time in those writes. So concurrent write transactions
// share a commit: one goroutine owns the writer, takes the transactions
// that are waiting, runs each in its own SAVEPOINT (a failing one is rolled
// back alone), commits once and only then answers each caller. Nothing is
// acknowledged before its commit, so durability is unchanged; a page that
// several transactions touch (a table's last page, an index's root) is
// written once per batch instead of once per transaction.

// A large transaction (a bulk import) runs alone: in a savepoint, SQLite
// copies every page it changes to a sub-journal first, which for thousands
// of rows was a third of the work.

// maxBatch bounds how many transactions share a commit, and so how long
// the first of them waits.
const maxBatch = 64

// errBatchLost is what the writes that shared a commit are told when
// another of them took the transaction with it.
var errBatchLost = errors.New("rolled back, nothing written: a write that shared this one's commit failed and SQLite rolled back their transaction; try again")

type batchTx struct {
	ctx     context.Context
	fn      func(txn) error
	alone   bool   // commit by itself, without a savepoint
	between func() // not a transaction: run this between two (BetweenCommits)
	err     error
	done    chan error
}

// BetweenCommits runs f on the goroutine that commits, between two
// batches: no write transaction is open while f runs, and none begins
// until it returns. It waits for the writes queued before it, and returns
// once f has run, or without running it if ctx ends or the DB closes
// first. A backend without group commit (Dialect.Batch) has no such
// goroutine: it returns an error.
//
// What it is for: work on the writer's connection that must see no commit
// while it runs (SQLite's checkpoint, to let the WAL start over).
func (db *DB) BetweenCommits(ctx context.Context, f func()) error {
	if db.batch == nil {
		return errors.New("sqlstore: BetweenCommits needs group commit (Dialect.Batch)")
	}
	return db.queue(ctx, &batchTx{between: f, done: make(chan error, 1)})
}

func (db *DB) batched(ctx context.Context, fn func(txn) error, alone bool) error {
	return db.queue(ctx, &batchTx{ctx: ctx, fn: fn, alone: alone, done: make(chan error, 1)})
}

// queue hands b to the committing goroutine and waits for its answer.
func (db *DB) queue(ctx context.Context, b *batchTx) error {
	// A caller that has given up already is not queued (select would
	// pick at random between its Done and an idle writer). Once the
	// writer has taken the work, it runs to its end.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case db.batch <- b:
	case <-ctx.Done():
		return ctx.Err()
	case <-db.closed:
		return sql.ErrConnDone
	}
	// Wait for the commit even if ctx ends: the work may commit.
	return <-b.done
}

// commits runs batches until Close.
func (db *DB) commits() {
	defer close(db.stopped)
	var next *batchTx // one that has to wait for the batch before it
	for {
		first := next
		if first == nil {
			select {
			case first = <-db.batch:
			case <-db.closed:
				return
			}
		}
		next = db.commit(first)
	}
}

// commit runs first and whatever waits behind it in one transaction, and
// returns what it took that must run by itself (a bulk transaction, or
// BetweenCommits' f), if any.
func (db *DB) commit(first *batchTx) (next *batchTx) {
	if first.between != nil {
		first.between()
		first.done <- nil
		return nil
	}
	if first.alone {
		first.done <- db.single(first.ctx, first.fn)
		return nil
	}
	batch := []*batchTx{first}
	tx, err := db.begin(context.Background())
	if err != nil {
		first.done <- err
		return nil
	}
	// run runs b in its savepoint, and reports whether the transaction
	// is still there for the next one.
	run := func(b *batchTx) bool {
		// A statement interrupted by its caller's cancellation would roll
		// back the whole batch (SQLite rolls back the transaction a write
		// is interrupted in). So the work runs to its end: every statement
		// runs with this context, not the one its caller's fn passes. (Nor
		// does each statement start goroutines to watch a context that can
		// end: database/sql and the driver start one each for one that
		// can.)
		ctx := context.WithoutCancel(b.ctx)
		t := tx.txn(ctx)
		if _, b.err = t.ExecContext(ctx, `SAVEPOINT one`); b.err != nil {
			return false
		}
		if b.err = b.fn(t); b.err != nil {
			if _, err := t.ExecContext(ctx, `ROLLBACK TO one`); err != nil {
				// The savepoint is gone with the transaction: SQLite
				// rolled it all back (it may, on an I/O error or out of
				// memory). b keeps the error that did it.
				return false
			}
		}
		if _, err := t.ExecContext(ctx, `RELEASE one`); err != nil {
			if b.err == nil {
				b.err = err
			}
			return false
		}
		return true
	}
	// Once the transaction is gone, no more work is taken into it: the
	// next SAVEPOINT would begin a transaction of its own and RELEASE
	// commit it, outside the batch, before the batch's commit failed and
	// told its caller otherwise. What waits goes to the next batch.
	alive := run(first)
more:
	for alive && len(batch) < maxBatch {
		select {
		case b := <-db.batch:
			if b.alone || b.between != nil {
				next = b
				break more
			}
			batch = append(batch, b)
			alive = run(b)
		default:
			break more
		}
	}
	if alive {
		err = tx.commit()
	} else {
		// Whatever is left of the transaction is rolled back (end, below):
		// nothing of it is known to be whole.
		err = errBatchLost
	}
	tx.end()
	for _, b := range batch {
		if err != nil && b.err == nil {
			b.err = err
		}
		b.done <- b.err
	}
	return next
}

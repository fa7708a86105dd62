package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"modernc.org/sqlite" // a real SQLite, as store/sqlite opens it
)

// sleep_ms(n) makes a statement take n ms of wall time (not CPU, which
// -race would multiply): a write still running when its caller gives up.
func init() {
	if err := sqlite.RegisterScalarFunction("sleep_ms", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		n, _ := args[0].(int64)
		time.Sleep(time.Duration(n) * time.Millisecond)
		return n, nil
	}); err != nil {
		panic(err)
	}
}

// batchDB is a group-committing DB on a real SQLite file with one table,
// t (who, n).
func batchDB(t *testing.T) *DB {
	t.Helper()
	w, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "batch.db")+
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	if _, err := w.Exec(`CREATE TABLE t (who TEXT NOT NULL, n INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	never := func(error) bool { return false }
	db := New(w, w, Dialect{Batch: true, Prepare: true, Unique: never, ForeignKey: never})
	t.Cleanup(func() { db.Close() })
	return db
}

// A caller that gives up while its write runs in a shared commit changes
// nothing for the others: its work runs to its end and commits with
// theirs, and each is told the truth about its own. (When the caller's
// cancellation reached SQLite, it interrupted the write, SQLite rolled
// back the whole shared transaction, and the work queued behind it
// committed by itself, outside the batch, while its caller was told it
// had failed.)
func TestGroupCommitRunsCancelledWorkToItsEnd(t *testing.T) {
	db := batchDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	started := make(chan struct{})
	slow := make(chan error, 1)
	go func() {
		slow <- db.tx(ctx, func(tx txn) error {
			close(started)
			// 200 ms in one statement, in 20 steps (SQLite sees an
			// interrupt between them).
			_, err := tx.ExecContext(ctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20)
				INSERT INTO t SELECT 'slow', sum(sleep_ms(10)) FROM c`)
			return err
		})
	}()
	<-started
	// Queued behind the slow one, so the same commit takes it.
	quick := make(chan error, 1)
	go func() {
		quick <- db.tx(context.Background(), func(tx txn) error {
			_, err := tx.ExecContext(context.Background(), `INSERT INTO t VALUES ('quick', 1)`)
			return err
		})
	}()
	time.Sleep(20 * time.Millisecond)
	cancel() // the slow one's caller gives up mid-statement

	if err := <-slow; err != nil {
		t.Errorf("the cancelled caller's write: %v, want it run to its end and committed", err)
	}
	if err := <-quick; err != nil {
		t.Errorf("the write queued behind it: %v, want it committed", err)
	}
	rows, err := db.w.Query(`SELECT who, n FROM t ORDER BY who`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var who string
		var n int
		if err := rows.Scan(&who, &n); err != nil {
			t.Fatal(err)
		}
		got[who] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got["slow"] != 200 || got["quick"] != 1 || len(got) != 2 {
		t.Errorf("committed rows %v, want slow 200 and quick 1", got)
	}
}

// When one write in a shared commit fails in a way that makes SQLite roll
// back the whole transaction (an I/O error, out of memory; here the write
// rolls it back itself), every caller is still told the truth: the work
// run before it in the batch is lost and its callers get an error, and
// the work queued behind it is not run in the lost transaction (where
// its SAVEPOINT would have begun a transaction of its own and committed
// it, while the batch's failed commit told its caller it had failed). It
// goes to the next commit.
func TestGroupCommitAfterSQLiteRolledTheBatchBack(t *testing.T) {
	db := batchDB(t)
	insert := func(who string) func(txn) error {
		return func(tx txn) error {
			_, err := tx.ExecContext(context.Background(), `INSERT INTO t VALUES ($1, 1)`, who)
			return err
		}
	}
	started, release := make(chan struct{}), make(chan struct{})
	errs := map[string]chan error{"first": make(chan error, 1), "breaker": make(chan error, 1), "after": make(chan error, 1)}
	go func() {
		errs["first"] <- db.tx(context.Background(), func(tx txn) error {
			close(started)
			<-release
			return insert("first")(tx)
		})
	}()
	<-started
	// Queued behind first, in this order (a channel's senders are served
	// in order).
	go func() {
		errs["breaker"] <- db.tx(context.Background(), func(tx txn) error {
			if err := insert("breaker")(tx); err != nil {
				return err
			}
			if _, err := tx.ExecContext(context.Background(), `ROLLBACK`); err != nil {
				return err
			}
			return errors.New("the transaction is gone")
		})
	}()
	time.Sleep(50 * time.Millisecond)
	go func() { errs["after"] <- db.tx(context.Background(), insert("after")) }()
	time.Sleep(20 * time.Millisecond)
	close(release)

	got := map[string]error{}
	for who, c := range errs {
		got[who] = <-c
	}
	committed := map[string]bool{}
	rows, err := db.w.Query(`SELECT who FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var who string
		if err := rows.Scan(&who); err != nil {
			t.Fatal(err)
		}
		committed[who] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for who, err := range got {
		if (err == nil) != committed[who] {
			t.Errorf("%s: told %v, but committed is %v", who, err, committed[who])
		}
	}
	if !errors.Is(got["first"], errBatchLost) || got["breaker"] == nil {
		t.Errorf("first: %v, breaker: %v; want both failed, first with %q", got["first"], got["breaker"], errBatchLost)
	}
	// Queued behind breaker (as the sleep above makes all but certain),
	// after commits in the next batch; had it gone first, it would have
	// been lost with first, and told so.
	if got["after"] != nil && !errors.Is(got["after"], errBatchLost) {
		t.Errorf("after: %v, want it committed in the next batch", got["after"])
	}
}

// BetweenCommits runs its function between two commits: the writes queued
// before it have committed, and none commits while it runs, however many
// are waiting.
func TestBetweenCommitsHoldsEveryWrite(t *testing.T) {
	db := batchDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	insert := func(who string) error {
		return db.tx(context.Background(), func(tx txn) error {
			_, err := tx.ExecContext(context.Background(), `INSERT INTO t VALUES (?, 1)`, who)
			return err
		})
	}
	count := func() (n int) {
		if err := db.w.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Error(err)
		}
		return n
	}
	if err := insert("before"); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for ctx.Err() == nil {
				if err := insert("meanwhile"); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	time.Sleep(20 * time.Millisecond) // the writers are busy
	var first, last, queuedBefore int
	err := db.BetweenCommits(context.Background(), func() {
		first = count()
		db.w.QueryRow(`SELECT count(*) FROM t WHERE who = 'before'`).Scan(&queuedBefore)
		time.Sleep(50 * time.Millisecond)
		last = count()
	})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if queuedBefore != 1 {
		t.Errorf("the write committed before BetweenCommits was called: seen %d times inside it, want 1", queuedBefore)
	}
	if first != last {
		t.Errorf("%d writes committed while BetweenCommits' function ran, want none", last-first)
	}
	if after := count(); after <= last {
		t.Errorf("the writers committed nothing after BetweenCommits returned (%d rows, %d inside it)", after, last)
	}
}

func TestBetweenCommitsNeedsGroupCommit(t *testing.T) {
	w, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "plain.db"))
	if err != nil {
		t.Fatal(err)
	}
	never := func(error) bool { return false }
	db := New(w, w, Dialect{Unique: never, ForeignKey: never})
	defer db.Close()
	ran := false
	if err := db.BetweenCommits(context.Background(), func() { ran = true }); err == nil || ran {
		t.Errorf("BetweenCommits without group commit: err %v, ran %v; want an error and nothing run", err, ran)
	}
}

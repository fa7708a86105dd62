package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/doorwayhq/doorway/internal/pgtest"
)

// execModes are the ways pgx may be told to send statements: the default,
// and what the README tells an operator behind PgBouncer in transaction
// mode to use, and the simple protocol. A batch is one transaction in
// each.
var execModes = []string{"cache_statement", "exec", "simple_protocol"}

// togetherOn returns a together on a fresh database with a table t of
// integer keys, its statements sent in pgx's execMode.
func togetherOn(t *testing.T, execMode string) (*together, *sql.DB) {
	t.Helper()
	db, err := connect(context.Background(), pgtest.WithParam(pgtest.URL(t), "default_query_exec_mode", execMode), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return &together{db: db, slots: writeSlots, most: writeBatch}, db
}

// busy keeps every batch slot of tg sending a slow statement for d, so
// that the writes that come meanwhile wait, and go in one batch after.
func busy(t *testing.T, tg *together, d time.Duration) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range tg.slots {
		wg.Go(func() {
			var one int
			if err := tg.QueryRow(context.Background(), `SELECT 1 FROM pg_sleep($1)`, d.Seconds()).Scan(&one); err != nil {
				t.Errorf("slow statement: %v", err)
			}
		})
	}
	// Until both are in flight.
	deadline := time.Now().Add(5 * time.Second)
	for {
		tg.mu.Lock()
		n := tg.sending
		tg.mu.Unlock()
		if n == tg.slots {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d batch slots busy after 5 s", n, tg.slots)
		}
		time.Sleep(time.Millisecond)
	}
	return &wg
}

// insertAll inserts ids at once through tg, each write answered with its
// transaction's id, and checks that every write was committed before it
// was answered.
func insertAll(t *testing.T, tg *together, db *sql.DB, ids []int) (txids map[int]int64, errs map[int]error) {
	t.Helper()
	txids, errs = map[int]int64{}, map[int]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			var txid int64
			err := tg.QueryRow(context.Background(), `INSERT INTO t VALUES ($1) RETURNING txid_current()`, id).Scan(&txid)
			if err == nil {
				// Answered, so committed: another connection sees it.
				var n int
				if qerr := db.QueryRow(`SELECT count(*) FROM t WHERE id = $1`, id).Scan(&n); qerr != nil || n != 1 {
					t.Errorf("insert of %d answered, but another connection finds %d rows (%v): answered before its commit", id, n, qerr)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			txids[id], errs[id] = txid, err
		})
	}
	wg.Wait()
	return txids, errs
}

func TestWritesArrivingTogetherShareACommit(t *testing.T) {
	for _, mode := range execModes {
		t.Run(mode, func(t *testing.T) { testWritesArrivingTogetherShareACommit(t, mode) })
	}
}

func testWritesArrivingTogetherShareACommit(t *testing.T, mode string) {
	tg, db := togetherOn(t, mode)
	slow := busy(t, tg, 500*time.Millisecond)
	ids := make([]int, 20)
	for i := range ids {
		ids[i] = i + 1
	}
	txids, errs := insertAll(t, tg, db, ids)
	slow.Wait()
	commits := map[int64]bool{}
	for _, id := range ids {
		if errs[id] != nil {
			t.Fatalf("insert of %d: %v", id, errs[id])
		}
		commits[txids[id]] = true
	}
	// Without batches, twenty transactions; they waited together for the
	// two slow ones, and went in one or two.
	if len(commits) > tg.slots {
		t.Fatalf("20 writes that waited together committed in %d transactions, want at most %d", len(commits), tg.slots)
	}
	var n int
	if err := db.QueryRow(`SELECT count(DISTINCT id) FROM t`).Scan(&n); err != nil || n != len(ids) {
		t.Fatalf("the table holds %d ids (%v), want %d", n, err, len(ids))
	}
}

func TestAFailingWriteDoesNotTakeTheOthersWithIt(t *testing.T) {
	for _, mode := range execModes {
		t.Run(mode, func(t *testing.T) { testAFailingWriteDoesNotTakeTheOthersWithIt(t, mode) })
	}
}

func testAFailingWriteDoesNotTakeTheOthersWithIt(t *testing.T, mode string) {
	tg, db := togetherOn(t, mode)
	if _, err := db.Exec(`INSERT INTO t VALUES (7)`); err != nil {
		t.Fatal(err)
	}
	slow := busy(t, tg, 500*time.Millisecond)
	ids := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	_, errs := insertAll(t, tg, db, ids)
	slow.Wait()
	for _, id := range ids {
		var pe *pgconn.PgError
		switch {
		case id == 7 && !(errors.As(errs[id], &pe) && pe.Code == "23505"):
			t.Errorf("insert of the id already there: %v, want its own unique violation", errs[id])
		case id != 7 && errs[id] != nil:
			t.Errorf("insert of %d failed with a write it was sent with: %v", id, errs[id])
		}
	}
	var got string
	if err := db.QueryRow(`SELECT string_agg(id::text, ' ' ORDER BY id) FROM t`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := strings.Trim(fmt.Sprint(ids), "[]"); got != want {
		t.Fatalf("the table holds %v, want %v, each once", got, ids)
	}
}

func TestAWriteWhoseCallerLeftIsNotSent(t *testing.T) {
	tg, db := togetherOn(t, execModes[0])
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var txid int64
	if err := tg.QueryRow(ctx, `INSERT INTO t VALUES (1) RETURNING txid_current()`).Scan(&txid); !errors.Is(err, context.Canceled) {
		t.Fatalf("a write whose caller had gone: %v, want context.Canceled", err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the table holds %d rows (%v), want none", n, err)
	}
}

func TestReadsArrivingTogetherShareARoundTrip(t *testing.T) {
	for _, mode := range execModes {
		t.Run(mode, func(t *testing.T) { testReadsArrivingTogetherShareARoundTrip(t, mode) })
	}
}

// readAll runs q once for each of args at once through r, each read
// answered with a number and the start of its transaction.
func readAll(r reads, q string, args []int) (got map[int]int, began map[int]time.Time, errs map[int]error) {
	got, began, errs = map[int]int{}, map[int]time.Time{}, map[int]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, a := range args {
		wg.Go(func() {
			var n int
			var at time.Time
			err := r.QueryRow(context.Background(), q, a).Scan(&n, &at)
			mu.Lock()
			defer mu.Unlock()
			got[a], began[a], errs[a] = n, at, err
		})
	}
	wg.Wait()
	return got, began, errs
}

func testReadsArrivingTogetherShareARoundTrip(t *testing.T, mode string) {
	_, db := togetherOn(t, mode)
	r := newReads(db)
	if _, err := db.Exec(`INSERT INTO t SELECT generate_series(1, 20)`); err != nil {
		t.Fatal(err)
	}
	slow := busy(t, r.t, 500*time.Millisecond)
	ids := make([]int, 20)
	for i := range ids {
		ids[i] = i + 1
	}
	got, began, errs := readAll(r, `SELECT id * 10, transaction_timestamp() FROM t WHERE id = $1`, ids)
	slow.Wait()
	transactions := map[time.Time]bool{}
	for _, id := range ids {
		if errs[id] != nil || got[id] != id*10 {
			t.Fatalf("read of %d: %d, %v; want %d", id, got[id], errs[id], id*10)
		}
		transactions[began[id]] = true
	}
	// Alone, twenty transactions; they waited together for the two slow
	// reads, and went in batches of at most readBatch.
	if want := (len(ids) + readBatch - 1) / readBatch; len(transactions) > want {
		t.Fatalf("20 reads that waited together ran in %d transactions, want at most %d", len(transactions), want)
	}
	var none int
	var at time.Time
	if err := r.QueryRow(context.Background(), `SELECT id, now() FROM t WHERE id = $1`, 99).Scan(&none, &at); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("a read of no row: %v, want sql.ErrNoRows", err)
	}
}

func TestAFailingReadDoesNotTakeTheOthersWithIt(t *testing.T) {
	_, db := togetherOn(t, execModes[0])
	r := newReads(db)
	slow := busy(t, r.t, 500*time.Millisecond)
	args := []int{1, 2, 3, 0, 5, 6, 7, 8}
	got, _, errs := readAll(r, `SELECT 840 / $1::int, now()`, args)
	slow.Wait()
	for _, a := range args {
		var pe *pgconn.PgError
		switch {
		case a == 0 && !(errors.As(errs[a], &pe) && pe.Code == "22012"):
			t.Errorf("a read dividing by zero: %v, want its own division_by_zero", errs[a])
		case a != 0 && (errs[a] != nil || got[a] != 840/a):
			t.Errorf("840 / %d read %d, %v, want %d", a, got[a], errs[a], 840/a)
		}
	}
}

func TestACallerThatGivesUpIsAnsweredAtOnce(t *testing.T) {
	tg, db := togetherOn(t, execModes[0])
	const slowFor = 3 * time.Second
	slow := busy(t, tg, slowFor)
	start := time.Now()

	// A write queued behind the two slow batches, whose caller gives up
	// after 50 ms.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var txid int64
	err := tg.QueryRow(ctx, `INSERT INTO t VALUES (1) RETURNING txid_current()`).Scan(&txid)
	if took := time.Since(start); took > slowFor/2 {
		t.Fatalf("the caller that gave up after 50 ms was answered after %v, when the batches before it had finished (%v)", took, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a write whose caller gave up: %v, want context.DeadlineExceeded", err)
	}
	slow.Wait()
	// The next batch goes out (a write of its own, answered), and the
	// write whose caller had gone was not in it.
	if err := tg.QueryRow(context.Background(), `INSERT INTO t VALUES (2) RETURNING txid_current()`).Scan(&txid); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := db.QueryRow(`SELECT string_agg(id::text, ' ' ORDER BY id) FROM t`).Scan(&got); err != nil || got != "2" {
		t.Fatalf("the table holds %q (%v), want only 2: the write whose caller had gone was sent", got, err)
	}
	if txid == 0 {
		t.Fatal("the write after it was not answered")
	}
}

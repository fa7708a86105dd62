package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorwayhq/doorway/internal/pgtest"
	"github.com/doorwayhq/doorway/store/sqlstore"
)

// TestClaimWalksTheQueueInOrder: with statistics taken when the queue was
// short and thousands of events pending since (what ANALYZE sees between
// bursts), the claim, run as the driver runs it, still walks events_due in
// order and stops at its limit, instead of reading and sorting every
// pending event (see dialect.ClaimEvents).
func TestClaimWalksTheQueueInOrder(t *testing.T) {
	ctx := context.Background()
	tx, now := staleQueue(t)
	if _, err := tx.ExecContext(ctx, dialect.ClaimSetup); err != nil {
		t.Fatal(err)
	}
	// As the driver runs it: a prepared statement, which PostgreSQL plans
	// once for any parameters after five runs unless told otherwise.
	if _, err := tx.ExecContext(ctx, `PREPARE claim (text, bigint, bigint, int) AS `+dialect.ClaimEvents); err != nil {
		t.Fatal(err)
	}
	args := func(limit int) string {
		return "('node', " + strconv.FormatInt(now+60_000, 10) + ", " + strconv.FormatInt(now, 10) + ", " + strconv.Itoa(limit) + ")"
	}
	for range 6 {
		if _, err := tx.ExecContext(ctx, `EXECUTE claim `+args(1)); err != nil {
			t.Fatal(err)
		}
	}
	text := explain(t, tx, `EXECUTE claim `+args(64))
	if !strings.Contains(text, "Index Scan using events_due on events e") || strings.Contains(text, "Sort Key: e.next_attempt_at") {
		t.Fatalf("the claim does not walk events_due in order:\n%s", text)
	}
	if strings.Contains(text, "on events p") && !strings.Contains(text, "using events_installation_id_sequence_key on events p") {
		t.Fatalf("the earlier-event check does not look the installation's events up by key:\n%s", text)
	}
	if !strings.Contains(text, "rows=64 loops=1") {
		t.Fatalf("the claim did not lease a batch of 64:\n%s", text)
	}
}

// staleQueue is a transaction in a database whose statistics were taken
// when the queue was empty, 5,000 events delivered, with 5,000 events
// pending since (what ANALYZE sees between bursts), and the millisecond
// time the events are due around.
func staleQueue(t *testing.T) (*sql.Tx, int64) {
	ctx := context.Background()
	url := pgtest.URL(t)
	if _, err := Migrate(ctx, url, nil); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now().UnixMilli()
	// Events n in [from, to], one per installation, due n ms after a
	// minute ago, in the given state.
	events := func(from, to int, delivery string) string {
		return `INSERT INTO events (id, type, app_id, installation_id, tenant_id, user_id, mode, permissions, sequence,
			state, created_at, next_attempt_at, delivery)
			SELECT 'evt_' || lpad(n::text, 8, '0'), 'app.installed', 'app_1', 'ins_' || n, 'ten_' || n, 'usr_1', 'live', '[]', 1,
			'', ` + strconv.FormatInt(now, 10) + `, ` + strconv.FormatInt(now-60_000, 10) + ` + n, '` + delivery + `'
			FROM generate_series(` + strconv.Itoa(from) + `, ` + strconv.Itoa(to) + `) n`
	}
	for _, q := range []string{
		`INSERT INTO apps (id, created_at) VALUES ('app_1', 0)`,
		`INSERT INTO tenants (id, name, created_at) SELECT 'ten_' || n, 'T', 0 FROM generate_series(1, 10000) n`,
		`INSERT INTO installations (id, app_id, tenant_id, mode, status, version_id, permissions, installed_by, created_at, updated_at)
			SELECT 'ins_' || n, 'app_1', 'ten_' || n, 'live', 'active', 'ver_1', '[]', 'usr_1', 0, 0 FROM generate_series(1, 10000) n`,
		events(1, 5000, "delivered"),
		`ANALYZE`,
		events(5001, 10000, "pending"),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	return tx, now
}

// explain runs EXPLAIN (ANALYZE, COSTS OFF) of statement in tx and returns
// the plan.
func explain(t *testing.T, tx *sql.Tx, statement string) string {
	t.Helper()
	rows, err := tx.QueryContext(context.Background(), `EXPLAIN (ANALYZE, COSTS OFF) `+statement)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	return strings.Join(plan, "\n")
}

// TestRecordFindsTheEventByKey: in the same stale queue, a record of
// deliveries (sqlstore.RecordInOneTrip), run as the driver runs it, finds
// each event by the primary key, not by walking every pending event in
// events_due.
func TestRecordFindsTheEventByKey(t *testing.T) {
	ctx := context.Background()
	tx, now := staleQueue(t)
	if _, err := tx.ExecContext(ctx, `UPDATE events SET lease_owner = 'node' WHERE id >= 'evt_00009000'`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `PREPARE record AS `+sqlstore.RecordInOneTrip); err != nil {
		t.Fatal(err)
	}
	at := strconv.FormatInt(now, 10)
	// args are the arrays of n attempts, at events from first on.
	args := func(first, n int) string {
		var ids []string
		for i := range n {
			ids = append(ids, fmt.Sprintf("'evt_%08d'", first+i))
		}
		each := func(v string) string { return "ARRAY[" + strings.Repeat(v+", ", n-1) + v + "]" }
		return "(ARRAY[" + strings.Join(ids, ", ") + "], " + each("'app.installed'") + ", " + each("'app_1'") + ", " + each("1") + ", " +
			each("'https://app.example/hooks'") + ", " + each("200") + ", " + each("''") + ", " + each("''") + ", " + each("900") + ", " +
			each(at) + ", " + each("'delivered'") + ", " + each("0") + ", 'node')"
	}
	for n := range 6 {
		if _, err := tx.ExecContext(ctx, `EXECUTE record `+args(9000+3*n, 3)); err != nil {
			t.Fatal(err)
		}
	}
	text := explain(t, tx, `EXECUTE record `+args(9100, 3))
	if !strings.Contains(text, "Index Scan using events_pkey on events") {
		t.Fatalf("the record does not find its events by key:\n%s", text)
	}
	if !regexp.MustCompile(`Update on events \(actual time=[0-9.]+ rows=3 loops=1\)`).MatchString(text) {
		t.Fatalf("the record did not update its three events:\n%s", text)
	}
}

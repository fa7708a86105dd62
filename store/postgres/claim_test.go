package postgres

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorwayhq/doorway/internal/pgtest"
)

// TestClaimWalksTheQueueInOrder: with statistics taken when the queue was
// short and thousands of events pending since (what ANALYZE sees between
// bursts), the claim, run as the driver runs it, still walks events_due in
// order and stops at its limit, instead of reading and sorting every
// pending event (see dialect.ClaimEvents).
func TestClaimWalksTheQueueInOrder(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	if _, err := Migrate(ctx, url); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
		events(5001, 5010, "pending"),
		`ANALYZE`,
		events(5011, 10000, "pending"),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
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
	rows, err := tx.QueryContext(ctx, `EXPLAIN (ANALYZE, COSTS OFF) EXECUTE claim `+args(64))
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	rows.Close()
	text := strings.Join(plan, "\n")
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

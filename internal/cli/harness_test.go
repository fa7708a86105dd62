package cli_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
	"github.com/doorwayhq/doorway/registry"
)

// The load tests (crash, two nodes, database restart) share these steps.

func newReceiver() *serialReceiver {
	return &serialReceiver{bodyOf: map[string]string{}, received: map[string]int{}, seen: map[string][]int64{}, installed: map[string]bool{}}
}

// seedFleet creates, through m, an app whose webhooks go to hooksURL and
// are checked by rc, and workers users (worker<N>@example.com) with perUser
// tenants each, whose ids it returns by worker.
func seedFleet(t *testing.T, m *cli.Main, rc *serialReceiver, hooksURL string, workers, perUser int) (*registry.Created, [][]string) {
	t.Helper()
	ctx := context.Background()
	man := testkit.Manifest("https://app.example/callback")
	man.WebhookURL = hooksURL + "/hooks"
	app, err := m.Registry.CreateApp(ctx, man)
	if err != nil {
		t.Fatal(err)
	}
	if rc.wh, err = standardwebhooks.NewWebhook(app.WebhookSecret); err != nil {
		t.Fatal(err)
	}
	tenants := make([][]string, workers)
	for w := range workers {
		email := fmt.Sprintf("worker%d@example.com", w)
		if _, err := m.Identity.CreateUser(ctx, email, testkit.Password); err != nil {
			t.Fatal(err)
		}
		for i := range perUser {
			tn, err := m.Identity.CreateTenant(ctx, fmt.Sprintf("W%d tenant %03d", w, i), email)
			if err != nil {
				t.Fatal(err)
			}
			tenants[w] = append(tenants[w], tn.ID)
		}
	}
	return app, tenants
}

// waitDrained waits until every event in db is delivered and returns how
// long that took.
func waitDrained(t *testing.T, db *sql.DB, rc *serialReceiver, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		var left int
		if err := db.QueryRow(`SELECT count(*) FROM events WHERE delivery <> 'delivered'`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return time.Since(start)
		}
		if time.Since(start) > within {
			rc.mu.Lock()
			n := rc.requests
			rc.mu.Unlock()
			var states []string
			rows, _ := db.Query(`SELECT delivery || ':' || count(*) || ' leased-by:' || max(lease_owner) FROM events GROUP BY delivery`)
			for rows != nil && rows.Next() {
				var s string
				rows.Scan(&s)
				states = append(states, s)
			}
			t.Fatalf("%d events still undelivered after %s (%v); the receiver got %d requests", left, within, states, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkNothingLost compares the ground truth in db with what the browsers
// were told (confirmed) and what the app received (rc): every confirmed
// install committed, each installation has one app.installed and every
// event it wrote was delivered, and nothing was delivered for an
// installation that did not commit. It returns each committed
// installation's number of events.
func checkNothingLost(t *testing.T, db *sql.DB, rc *serialReceiver, confirmed map[string]bool) map[string]int {
	t.Helper()
	committed := map[string]int{}
	rows, err := db.Query(`SELECT i.id, count(e.id), sum(CASE WHEN e.type = 'app.installed' THEN 1 ELSE 0 END)
		FROM installations i JOIN events e ON e.installation_id = i.id GROUP BY i.id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var n, installs int
		if err := rows.Scan(&id, &n, &installs); err != nil {
			t.Fatal(err)
		}
		if installs != 1 {
			t.Errorf("installation %s has %d app.installed events", id, installs)
		}
		committed[id] = n
	}
	rows.Close()

	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, p := range rc.problems {
		t.Error(p)
	}
	for id := range confirmed {
		if _, ok := committed[id]; !ok {
			t.Errorf("install %s was confirmed to the browser but is not in the database", id)
		}
	}
	for id, n := range committed {
		if !rc.installed[id] {
			t.Errorf("committed installation %s: app.installed never delivered", id)
		}
		if distinct := distinctSeqs(rc.seen[id]); distinct != n {
			t.Errorf("installation %s: %d distinct events delivered, %d written", id, distinct, n)
		}
	}
	for id := range rc.seen {
		if _, ok := committed[id]; !ok {
			t.Errorf("an event was delivered for %s, which is not a committed installation", id)
		}
	}
	return committed
}

package cli_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/pgtest"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// TestPostgresRestartUnderLoad stops PostgreSQL at once (as a crash would)
// while installs run, and starts it again two seconds later. While it is
// away Doorway answers 503, never 500, and /readyz says so; within 5 s of
// its return installs succeed again without a restart of Doorway; and every
// install that was confirmed, and every event written, reaches the app.
func TestPostgresRestartUnderLoad(t *testing.T) {
	const workers, perUser = 4, 150
	c, err := pgtest.Start()
	if err != nil {
		pgtest.Unavailable(t, err)
	}
	t.Cleanup(func() { c.Stop() })

	rc := newReceiver()
	hooks := httptest.NewServer(rc)
	t.Cleanup(hooks.Close)
	s := testkit.Start(t, func(m *cli.Main) {
		m.DB, m.MasterKey, m.Now = c.URL, testkit.MasterKey(), time.Now
		// A claim whose answer was lost with the connection stays leased
		// until the lease runs out: 7s here.
		m.ConfigPath = shortConfig(t, t.TempDir())
		m.WebhookAllowPrivate = true
	})
	app, tenants := seedFleet(t, s.Main, rc, hooks.URL, workers, perUser)

	var (
		mu           sync.Mutex
		statuses     = map[int]int{}
		fiveHundreds []string
		confirmed    = map[string]bool{}
		down         atomic.Bool
		back         atomic.Int64 // unix nanos when PostgreSQL accepted connections again
		firstAfter   atomic.Int64 // unix nanos of the first install confirmed after that
		total        atomic.Int64
	)
	saw := func(method, path string, status int) {
		mu.Lock()
		defer mu.Unlock()
		statuses[status]++
		if status >= 500 && status != http.StatusServiceUnavailable {
			fiveHundreds = append(fiveHundreds, fmt.Sprintf("%s %s = %d", method, path, status))
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := &installer{c: testkit.NewBrowser(t, "").Client, base: s.URL(), app: app.App.ID,
				email: fmt.Sprintf("worker%d@example.com", w), saw: saw}
			for _, tenant := range tenants[w] {
				if total.Load() >= 300 && back.Load() != 0 {
					return
				}
				instance, err := in.install(tenant)
				if err != nil {
					if !down.Load() && back.Load() == 0 {
						t.Errorf("install before the database went away: %v", err)
						return
					}
					time.Sleep(50 * time.Millisecond)
					continue
				}
				if b := back.Load(); b != 0 {
					firstAfter.CompareAndSwap(0, time.Now().UnixNano())
				}
				mu.Lock()
				confirmed[instance] = true
				mu.Unlock()
				total.Add(1)
			}
		}()
	}

	for total.Load() < 60 && !t.Failed() {
		time.Sleep(10 * time.Millisecond)
	}
	down.Store(true)
	c.Halt()
	time.Sleep(500 * time.Millisecond)
	if resp, err := http.Get(s.URL() + "/readyz"); err != nil || resp.StatusCode != 503 {
		t.Errorf("/readyz with the database away = %v, %v; want 503", resp.StatusCode, err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := c.Resume(); err != nil {
		t.Fatal(err)
	}
	back.Store(time.Now().UnixNano())
	down.Store(false)
	wg.Wait()

	if len(fiveHundreds) > 0 {
		t.Errorf("%d answers were 5xx other than 503, e.g. %v", len(fiveHundreds), fiveHundreds[:min(5, len(fiveHundreds))])
	}
	if statuses[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no 503 while the database was away (statuses: %v)", statuses)
	}
	if firstAfter.Load() == 0 {
		t.Fatal("no install succeeded after the database came back")
	}
	recovered := time.Duration(firstAfter.Load() - back.Load())
	if recovered > 5*time.Second {
		t.Errorf("the first install after the database came back took %s; want within 5s", recovered)
	}
	if resp, err := http.Get(s.URL() + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/readyz after the database came back = %v, %v; want 200", resp.StatusCode, err)
	}

	// Nothing lost: every confirmed install is committed and every event
	// written reaches the app.
	pg, err := sql.Open("pgx", c.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	waitDrained(t, pg, rc, 30*time.Second)
	committed := checkNothingLost(t, pg, rc, confirmed)
	t.Logf("statuses %v; first install %s after the database returned; %d committed, all delivered",
		statuses, recovered.Round(time.Millisecond), len(committed))
}

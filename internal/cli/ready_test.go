package cli_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/doorwayhq/doorway/internal/cli"
	"github.com/doorwayhq/doorway/internal/testkit"
)

// TestReadyzNeedsAWrite: on SQLite every write queues for one connection,
// so a database that still reads may not take writes. While another
// process holds the file's write lock (a long migration, a tool's
// transaction left open), /readyz says 503 within its two seconds, with
// the database's reason in the log; once the lock is let go it says 200.
func TestReadyzNeedsAWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doorway.db")
	s := testkit.Start(t, func(m *cli.Main) { m.DB = path })
	ready := func() (int, string) {
		t.Helper()
		resp, err := http.Get(s.URL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Status string }
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Status
	}
	if code, status := ready(); code != http.StatusOK {
		t.Fatalf("/readyz at start = %d %q, want 200", code, status)
	}

	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, status := ready()
	if code != http.StatusServiceUnavailable || status != "database unavailable" {
		t.Errorf("/readyz while another process holds the write lock = %d %q, want 503 \"database unavailable\"", code, status)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("/readyz took %v to answer, want its two seconds", d)
	}

	if _, err := conn.ExecContext(context.Background(), `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	// The write the first check queued waits out SQLite's busy timeout
	// behind the lock, and then commits.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, status := ready()
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz 10 s after the lock was let go = %d %q, want 200", code, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

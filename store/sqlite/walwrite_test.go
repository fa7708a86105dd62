package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryCommitIsInTheFiles: after each commit returns, the database
// file and its WAL, copied as they are (what a crash of the process at
// that moment leaves: SQLite rebuilds the rest from them), open with every
// committed row and pass SQLite's integrity check. The writer holds WAL
// writes back to gather them (walwrite.go); this is what it must never
// hold back. The transactions are of every kind the gathering meets:
// one row; more pages than it holds at once; more than the page cache
// holds, so that SQLite spills pages to the WAL before the commit; such a
// spill followed by changes to rows already spilled, which SQLite writes
// over their frames and whose checksums it then rewrites; and commits
// after a checkpoint that starts the WAL over.
func TestEveryCommitIsInTheFiles(t *testing.T) {
	for _, sync := range []string{"NORMAL", "FULL"} {
		t.Run(sync, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "wal.db")
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`CREATE TABLE rows (id INTEGER PRIMARY KEY, tx INTEGER NOT NULL, body TEXT NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			w, err := openWriter(path, sync)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if !w.wal {
				t.Fatal("the writer's database is not in WAL mode")
			}
			ctx := context.Background()
			// A small cache, so that large transactions spill.
			if _, err := w.ExecContext(ctx, `PRAGMA cache_size = 20`); err != nil {
				t.Fatal(err)
			}
			body := strings.Repeat("x", 300)
			kinds := []struct {
				name    string
				rows    int
				rewrite bool
			}{
				{"one row", 1, false},
				{"a few pages", 40, false},
				{"more than is held at once", 500, false},
				{"a spill", 3000, false},
				{"a spill, then its rows changed", 3000, true},
			}
			want := 0
			for round := range 3 {
				for k, kind := range kinds {
					tx := round*len(kinds) + k
					if err := w.Begin(); err != nil {
						t.Fatal(err)
					}
					for range kind.rows {
						if _, err := w.ExecContext(ctx, `INSERT INTO rows (tx, body) VALUES ($1, $2)`, tx, body); err != nil {
							t.Fatal(err)
						}
					}
					if kind.rewrite {
						if _, err := w.ExecContext(ctx, `UPDATE rows SET body = upper(body) WHERE tx = $1`, tx); err != nil {
							t.Fatal(err)
						}
					}
					if err := w.Commit(); err != nil {
						t.Fatal(err)
					}
					want += kind.rows
					if got, err := crashCopy(t, path); err != nil || got != want {
						t.Fatalf("round %d, %s: a copy of the files after the commit has %d rows (%v), want %d", round, kind.name, got, err, want)
					}
				}
				// The WAL starts over at the next commit.
				if _, err := db.Exec(`PRAGMA wal_checkpoint(RESTART)`); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// crashCopy copies the database at path and its WAL to a directory of
// their own, opens the copy, checks its integrity and counts its rows.
func crashCopy(t *testing.T, path string) (int, error) {
	t.Helper()
	to := filepath.Join(t.TempDir(), "copy.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(to+suffix, b, 0o600); err != nil {
			return 0, err
		}
	}
	c, err := sql.Open("sqlite", "file:"+to)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var ok string
	if err := c.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		return 0, fmt.Errorf("integrity_check: %q, %v", ok, err)
	}
	var n int
	err = c.QueryRow(`SELECT count(*) FROM rows`).Scan(&n)
	return n, err
}

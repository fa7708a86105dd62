package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// keepDB is a WAL database with a table of count rows, each about 200
// bytes (so the table is a b-tree of a few levels), an empty second table,
// its writer (no automatic checkpoints, as the store's) and a rowReader
// of one connection.
func keepDB(t *testing.T, count int) (*sql.DB, *rowReader, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keep.db")
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	t.Cleanup(func() { w.Close() })
	for _, q := range []string{
		`CREATE TABLE kv (k INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad TEXT NOT NULL)`,
		`CREATE TABLE other (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`,
		`WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ` + fmt.Sprint(count) + `)
			INSERT INTO kv (k, v, pad) SELECT k, 0, printf('%.200c', 'p') FROM n`,
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	r := newRowReader(path, 1)
	t.Cleanup(r.close)
	return w, r, path
}

// walSequence is the WAL's checkpoint sequence number, from its header,
// which SQLite counts up each time the WAL starts over.
func walSequence(t *testing.T, path string) uint32 {
	t.Helper()
	h := make([]byte, 16)
	f, err := os.Open(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.ReadFull(f, h); err != nil {
		t.Fatalf("the WAL's header: %v", err)
	}
	return binary.BigEndian.Uint32(h[12:])
}

// walFrames is how many frames the WAL holds (a PASSIVE checkpoint's
// second column; it copies what no reader needs and waits for nothing).
func walFrames(t *testing.T, w *sql.DB) int {
	t.Helper()
	var busy, frames, copied int
	if err := w.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
		t.Fatal(err)
	}
	return frames
}

// cacheMisses is how many pages the reader's connection has read from
// the files rather than found in its cache.
func cacheMisses(t *testing.T, r *rowReader) int {
	t.Helper()
	c := r.idle[len(r.idle)-1]
	cur := libc.Xmalloc(c.tls, 8)
	defer libc.Xfree(c.tls, cur)
	if rc := lib.Xsqlite3_db_status(c.tls, c.db, lib.SQLITE_DBSTATUS_CACHE_MISS, cur, cur+4, 0); rc != lib.SQLITE_OK {
		t.Fatalf("sqlite3_db_status: %d", rc)
	}
	return int(*at[int32](cur))
}

// TestReaderKeepsWhatACommitDidNotWrite: after another connection's
// commit to another table, a reader reads a row of the first from its
// cache. SQLite alone would read its every page again: the table's root,
// the leaf, and the database's first page.
func TestReaderKeepsWhatACommitDidNotWrite(t *testing.T) {
	w, r, _ := keepDB(t, 10_000)
	ctx := context.Background()
	read := func(k int) {
		t.Helper()
		var v int
		if err := r.QueryRow(ctx, `SELECT v FROM kv WHERE k = $1`, k).Scan(&v); err != nil {
			t.Fatal(err)
		}
	}
	read(5000) // the reader's cache now holds the pages on the way to 5000
	read(5000)
	for i := range 20 {
		if _, err := w.Exec(`INSERT INTO other (body) VALUES ($1)`, strings.Repeat("x", 300)); err != nil {
			t.Fatal(err)
		}
		before := cacheMisses(t, r)
		read(5000)
		// The first page changes with the database's size; nothing else
		// on the way to row 5000 does.
		if n := cacheMisses(t, r) - before; n > 1 {
			t.Fatalf("commit %d to another table: the reader read %d pages again, want at most 1 (the first)", i+1, n)
		}
	}
}

// TestReaderSeesEveryPageACommitWrote: whatever a commit changes, a
// reader's next read sees it. Writes of every shape (rows changed in
// place, inserted until pages split, deleted until pages merge, a
// VACUUM that shrinks the file) between reads of what they wrote and of
// what they did not, with the WAL long (past the first block of its
// index, 4,062 frames), checkpointed (PASSIVE), and started over
// (RESTART: new salts), and a reader that falls far behind (more
// commits between two reads than keep looks at).
func TestReaderSeesEveryPageACommitWrote(t *testing.T) {
	const rows = 3000
	w, r, path := keepDB(t, rows)
	ctx := context.Background()
	want := make(map[int]int, rows) // k → v; absent: deleted
	for k := 1; k <= rows; k++ {
		want[k] = 0
	}
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(step string, keys ...int) {
		t.Helper()
		for _, k := range keys {
			var v int
			err := r.QueryRow(ctx, `SELECT v FROM kv WHERE k = $1`, k).Scan(&v)
			wv, ok := want[k]
			switch {
			case !ok && err != sql.ErrNoRows:
				t.Fatalf("%s: row %d was deleted, the reader read %d, %v", step, k, v, err)
			case ok && (err != nil || v != wv):
				t.Fatalf("%s: row %d is %d, the reader read %d, %v", step, k, wv, v, err)
			}
		}
		var n int
		if err := r.QueryRow(ctx, `SELECT count(*) FROM kv`).Scan(&n); err != nil || n != len(want) {
			t.Fatalf("%s: %d rows, the reader counted %d, %v", step, len(want), n, err)
		}
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := w.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	next := rows + 1
	for i := range 4000 {
		k := 1 + rng.IntN(next-1)
		step := fmt.Sprintf("step %d", i)
		switch { // the steps named first: i == 1200 is also i%10 == 0
		case i == 1200:
			// Just after a RESTART: the WAL starts over at this step's
			// first commit, and grows past where the last one ended, so
			// the reader's next snapshot has more frames than its last,
			// of another WAL.
			seq := walSequence(t, path)
			last := walFrames(t, w)
			var changed []int
			for j := 0; ; j++ {
				u := 1 + (k+j*7)%(next-1)
				exec(`UPDATE kv SET v = $1 WHERE k = $2`, 10_000+j, u)
				if _, ok := want[u]; ok {
					want[u] = 10_000 + j
					changed = append(changed, u)
				}
				if j%10 == 9 && walFrames(t, w) > last {
					break
				}
			}
			if walSequence(t, path) == seq {
				t.Fatal("the WAL did not start over after a RESTART checkpoint and a write")
			}
			check(step+" (a new WAL, longer than the last)", changed...)
		case i == 2000:
			// Far behind: more commits than keep reads between two reads.
			for j := range 2100 {
				exec(`INSERT INTO other (body) VALUES ($1)`, strings.Repeat("o", 3000))
				exec(`UPDATE kv SET v = $1 WHERE k = $2`, j, k)
			}
			if _, ok := want[k]; ok {
				want[k] = 2099
			}
		case i%400 == 399:
			// The reader holds no snapshot between reads; the pin is let go.
			r.pin.around(func() { exec(`PRAGMA wal_checkpoint(RESTART)`) })
			step += " (WAL started over)"
		case i%100 == 99:
			r.pin.around(func() { exec(`PRAGMA wal_checkpoint(PASSIVE)`) })
		case i == 3000:
			for k := range want {
				if k%3 != 0 {
					delete(want, k)
				}
			}
			exec(`DELETE FROM kv WHERE k % 3 != 0`)
			exec(`VACUUM`)
			step += " (deleted two rows in three, VACUUM)"
		case i%10 == 0:
			// Rows added in one commit: new pages, and splits above them.
			tx, err := w.Begin()
			if err != nil {
				t.Fatal(err)
			}
			for range 20 {
				if _, err := tx.Exec(`INSERT INTO kv (k, v, pad) VALUES ($1, $2, $3)`, next, i, strings.Repeat("n", 150+rng.IntN(100))); err != nil {
					t.Fatal(err)
				}
				want[next] = i
				next++
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		case i%10 == 5:
			exec(`DELETE FROM kv WHERE k BETWEEN $1 AND $2`, k, k+30)
			for d := k; d <= k+30; d++ {
				delete(want, d)
			}
		default:
			exec(`UPDATE kv SET v = $1, pad = $2 WHERE k = $3`, i, strings.Repeat("u", 100+rng.IntN(200)), k)
			if _, ok := want[k]; ok {
				want[k] = i
			}
		}
		check(step, k, k+1, 1+rng.IntN(next-1), next-1)
	}
}

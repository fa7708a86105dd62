package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWALIsSyncedSoonAfterItIsWritten: after 16 MiB of commits through the
// writer with synchronous=NORMAL (no fsync at a commit), the kernel soon
// holds none of the WAL dirty, before the WAL starts over and after: the
// WAL's syncer has written it to the disk (walsync.go), so the
// checkpoint's fsync finds little left to write. Without it, every page
// written since the last checkpoint is dirty (4,096 here) until the
// kernel's own writeback comes for it, 30 s later by default (the test
// waits 5 s at most). The pages are counted with cachestat(2) (Linux 6.5
// or later).
func TestWALIsSyncedSoonAfterItIsWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	w, err := openWriter(path, "NORMAL")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	body := strings.Repeat("x", 3000) // a row a page, about
	// write commits n transactions of 50 rows each (~200 KiB).
	write := func(n int) {
		for range n {
			if err := w.Begin(); err != nil {
				t.Fatal(err)
			}
			for range 50 {
				if _, err := w.ExecContext(ctx, `INSERT INTO rows (body) VALUES ($1)`, body); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// dirty is how many pages of the WAL the page cache holds dirty, of
	// how many it holds: as soon as none is, or after 5 s (the syncer
	// syncs walSyncEvery after a write).
	dirty := func() (dirty, cached uint64) {
		f, err := os.Open(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var st unix.Cachestat_t
			if err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &st, 0); err != nil {
				t.Fatalf("cachestat(2), which counts the WAL's dirty pages, needs Linux 6.5 or later: %v", err)
			}
			if st.Dirty == 0 || time.Now().After(deadline) {
				return st.Dirty, st.Cache
			}
		}
	}
	write(80)
	if d, c := dirty(); d > 0 || c < 4096 {
		t.Fatalf("after 16 MiB of commits, %d of the WAL's %d cached pages are still dirty, want none", d, c)
	}
	// The WAL starts over at the next commit, writing from its beginning.
	w.checkpoint()
	write(40)
	if fi, err := os.Stat(path + "-wal"); err != nil {
		t.Fatal(err)
	} else if fi.Size() > 20<<20 {
		t.Fatalf("the WAL did not start over: it is %d bytes", fi.Size())
	}
	if d, c := dirty(); d > 0 {
		t.Fatalf("after the WAL started over and 8 MiB more, %d of the WAL's %d cached pages are still dirty, want none", d, c)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM rows`).Scan(&n); err != nil || n != 120*50 {
		t.Fatalf("the table has %d rows (%v), want %d", n, err, 120*50)
	}
}

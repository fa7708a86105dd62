package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// rss is the process's resident memory, from /proc.
func rss(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("/proc/self/statm %q: %v", b, err)
	}
	return pages * os.Getpagesize()
}

func TestPageCacheCostsWhatItHolds(t *testing.T) {
	// A connection scans 32 MiB through a 16 MiB cache twice: the process
	// grows by about the cache (SQLite's own cache took twice that, an
	// 8 KB allocation for each 4 KB page), and not again on the second
	// scan, whose pages take the slots of the first's.
	const cache, table = 16 << 20, 32 << 20
	path := filepath.Join(t.TempDir(), "big.db")
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, w, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`)
	insertRows(t, w, "t", 1, table/4000, 4000)
	w.Close()

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=cache_size(-"+strconv.Itoa(cache>>10)+")")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var n int
	scan := func() int {
		if err := db.QueryRow(`SELECT sum(length(v)) FROM t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return rss(t)
	}
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	// Whatever the Go heap of the tests before this one no longer uses
	// goes back to the OS now, not while the scans run, where the heap
	// shrinking would hide what the cache grew.
	debug.FreeOSMemory()
	before := rss(t)
	first := scan()
	second := scan()
	const mib = 1 << 20
	t.Logf("RSS %d MiB, after a scan %d MiB, after another %d MiB (a %d MiB cache)", before/mib, first/mib, second/mib, cache/mib)
	if grew := first - before; grew > cache*7/5 || grew < cache*3/5 {
		t.Errorf("a scan through a %d MiB cache grew the process by %d MiB; want about %d MiB", cache/mib, grew/mib, cache/mib)
	}
	if grew := second - first; grew > 2*mib {
		t.Errorf("a second scan grew the process by another %d MiB; want the first's slots reused", grew/mib)
	}
}

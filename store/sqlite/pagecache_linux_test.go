package sqlite_test

import (
	"database/sql"
	"math/rand/v2"
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

// readCalls is how many read system calls the process has made, pread(2)
// included, from /proc.
func readCalls(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("/proc/self/io %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("/proc/self/io has no syscr: %q", b)
	return 0
}

func TestInteriorPagesOutlastLeaves(t *testing.T) {
	// Random reads by key of a table of 5,000-odd leaves under 14 interior
	// pages, through a cache of 20 pages: each read needs a leaf it is
	// unlikely to find, and interior pages that a cache keeping them would
	// always find. Plain LRU let each read's leaf push the interior pages
	// out, and read 1.46 pages a lookup from the file; keeping interior
	// pages ahead of leaves reads the leaf alone.
	const rows, lookups = 100_000, 20_000
	path := filepath.Join(t.TempDir(), "wide.db")
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, w, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`)
	insertRows(t, w, "t", 1, rows, 200)
	w.Close()

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=cache_size(20)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var interior int
	if err := db.QueryRow(`SELECT count(*) FROM dbstat WHERE name = 't' AND pagetype = 'internal'`).Scan(&interior); err != nil {
		t.Fatal(err)
	}
	if interior < 8 || interior > 15 {
		t.Fatalf("the table has %d interior pages; the test wants 8–15 (three quarters of the cache or fewer)", interior)
	}
	read := func(n int) float64 {
		rnd := rand.New(rand.NewPCG(1, 2))
		before := readCalls(t)
		var v string
		for range n {
			if err := db.QueryRow(`SELECT v FROM t WHERE k = $1`, 1+rnd.IntN(rows)).Scan(&v); err != nil {
				t.Fatal(err)
			}
		}
		return float64(readCalls(t)-before) / float64(n)
	}
	read(2_000) // the cache fills
	got := read(lookups)
	t.Logf("%.2f pages read from the file a lookup (%d interior pages, a cache of 20)", got, interior)
	if got > 1.1 {
		t.Errorf("a lookup read %.2f pages from the file; want about one, its leaf", got)
	}
}

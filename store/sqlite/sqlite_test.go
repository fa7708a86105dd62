package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/store"
	"github.com/doorwayhq/doorway/store/sqlite"
	"github.com/doorwayhq/doorway/store/sqlstore"
	"github.com/doorwayhq/doorway/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "doorway.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doorway.db")
	applied, err := sqlite.Migrate(context.Background(), path, nil)
	if err != nil || len(applied) == 0 {
		t.Fatalf("first migrate applied %v, err %v; want the initial migration", applied, err)
	}
	applied, err = sqlite.Migrate(context.Background(), path, nil)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second migrate applied %v, err %v; want nothing", applied, err)
	}
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// openDB opens a new database, closed when the test ends.
func openDB(t *testing.T) (*sqlstore.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "doorway.db")
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// TestBackgroundCheckpoint: the writer never checkpoints, so committed
// pages reach the database file only through the background checkpoint.
func TestBackgroundCheckpoint(t *testing.T) {
	ctx := context.Background()
	db, path := openDB(t)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	now := time.Now()
	for i := range 2000 {
		u := &doorway.User{ID: fmt.Sprint("usr_", i), Email: fmt.Sprintf("u%d@example.com", i), PasswordHash: strings.Repeat("h", 100), CreatedAt: now}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for size() < before+200<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("the database file is %d bytes 5 s after 2,000 inserts (was %d): nothing was checkpointed", size(), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadsLetTheWALStartOver: the readers' pin on the WAL (pin.go) lets
// the background checkpoint copy it all back, after which the writer starts
// it over from its beginning; a WAL that never starts over grows with every
// write for as long as the server runs. The WAL's header counts the times
// it was started over.
func TestReadsLetTheWALStartOver(t *testing.T) {
	ctx := context.Background()
	db, path := openDB(t)
	restarts := func() uint32 { return sqlite.WALSequence(t, path) }
	now := time.Now()
	add := func(i int) {
		u := &doorway.User{ID: fmt.Sprint("usr_", i), Email: fmt.Sprintf("u%d@example.com", i), CreatedAt: now}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	read := func(i int) {
		if u, err := db.User(ctx, fmt.Sprint("usr_", i)); err != nil || u.Email != fmt.Sprintf("u%d@example.com", i) {
			t.Fatalf("user %d: %+v, %v", i, u, err)
		}
	}
	for i := range 200 {
		add(i)
		read(i)
	}
	before := restarts()
	// Reads only, past a checkpoint (one a second), then a write: the pin
	// is held throughout the reads, at the newest snapshot, and the write
	// starts the WAL over. A checkpoint that a busy machine runs late is
	// waited for, a second more at a time, for 20 s at most.
	deadline := time.Now().Add(20 * time.Second)
	for i := 200; restarts() == before; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the WAL was not started over after 200 writes, then reads past a checkpoint and a write, %d times in 20 s", i-200)
		}
		for end := time.Now().Add(1100 * time.Millisecond); time.Now().Before(end); {
			read(i - 1)
			time.Sleep(time.Millisecond)
		}
		add(i)
		read(i)
	}
}

// TestSustainedWritesLetTheWALStartOver: writes that never pause (eight
// writers and their readers) still let the WAL start over, again and
// again, once it has grown past its bound. A checkpoint beside
// the writer copies only the frames committed before it began, and the
// writer starts the WAL over only when every frame has been copied: under
// load that never happened, and the WAL grew by every commit (65 MB a
// second in the load benchmark's installs). The bound is lowered here to
// what these writes fill in a fraction of a second; at its default (64
// MiB) they would not reach it.
func TestSustainedWritesLetTheWALStartOver(t *testing.T) {
	sqlite.SetWALRestartFrames(t, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, path := openDB(t)
	if err := db.CreateUser(ctx, &doorway.User{ID: "usr_first", Email: "first@example.com", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	before := sqlite.WALSequence(t, path)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	var writes atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("usr_%d_%d", g, i)
				if err := db.CreateUser(ctx, &doorway.User{ID: id, Email: id + "@example.com", CreatedAt: time.Now()}); err != nil {
					errs <- err
					return
				}
				if u, err := db.User(ctx, id); err != nil || u.Email != id+"@example.com" {
					errs <- fmt.Errorf("user %s read back as %+v, %v", id, u, err)
					return
				}
				writes.Add(1)
			}
		})
	}
	// Twice, while the writes go on: about two seconds, a checkpoint a
	// second. A restart that a running read holds off waits for the next
	// second's checkpoint, so on a busy machine (CI, -race) it can take
	// longer; without the writer's step it never comes.
	const limit = 20 * time.Second
	deadline := time.After(limit)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for during := before; during-before < 2; during = sqlite.WALSequence(t, path) {
		select {
		case err := <-errs:
			t.Fatal(err)
		case <-deadline:
			cancel()
			wg.Wait()
			t.Fatalf("the WAL started over %d times in %s of %d writes that never paused, want 2", during-before, limit, writes.Load())
		case <-tick.C:
		}
	}
	cancel()
	wg.Wait()
	// Every write is still there.
	for g := range 8 {
		id := fmt.Sprintf("usr_%d_0", g)
		if _, err := db.User(context.Background(), id); err != nil {
			t.Errorf("user %s after the WAL started over: %v", id, err)
		}
	}
}

// TestIdleStoreLetsTheWALBeTruncated: a server at rest holds no read
// transaction (the pin is let go at the first checkpoint after the last
// read), so another process's TRUNCATE checkpoint, which must wait for
// the readers, succeeds at once and empties the WAL. A pin left on the
// database file (read mark 0) keeps any checkpoint from copying a commit
// made after it.
func TestIdleStoreLetsTheWALBeTruncated(t *testing.T) {
	ctx := context.Background()
	db, path := openDB(t)
	now := time.Now()
	for i := range 50 {
		if err := db.CreateUser(ctx, &doorway.User{ID: fmt.Sprint("usr_", i), Email: fmt.Sprintf("u%d@example.com", i), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.User(ctx, fmt.Sprint("usr_", i)); err != nil { // takes the pin
			t.Fatal(err)
		}
	}
	// Two checkpoints with no read between them, then a write.
	time.Sleep(2200 * time.Millisecond)
	if err := db.CreateUser(ctx, &doorway.User{ID: "usr_late", Email: "late@example.com", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var busy, log, done int
	if err := other.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &log, &done); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if busy != 0 || fi.Size() != 0 {
		t.Fatalf("TRUNCATE checkpoint from another connection of an idle store: busy %d, WAL %d bytes; want 0 and 0 (no reader left holding the WAL)", busy, fi.Size())
	}
	// The store reads and writes on after it.
	if err := db.CreateUser(ctx, &doorway.User{ID: "usr_after", Email: "after@example.com", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if u, err := db.User(ctx, "usr_after"); err != nil || u.Email != "after@example.com" {
		t.Fatalf("read after the truncation: %+v, %v", u, err)
	}
}

// TestAppChangedOnAnotherNode: two stores on one database (two processes,
// say the CLI and the server). A version made live through one is seen by
// the other within sqlstore.AppCacheFor, by the one that made it at once.
func TestAppChangedOnAnotherNode(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "doorway.db")
	open := func() store.Store {
		db, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	now := time.Now()
	app := &doorway.App{ID: "app_1", LiveVersionID: "ver_1", CreatedAt: now}
	v1 := &doorway.AppVersion{ID: "ver_1", AppID: app.ID, CreatedAt: now, Manifest: doorway.Manifest{Name: "One", Version: "1"}}
	if err := a.CreateApp(ctx, app, v1, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := b.App(ctx, app.ID); err != nil || got.LiveVersionID != v1.ID {
		t.Fatalf("other node: App = %+v, %v; want live version %s", got, err, v1.ID)
	}
	v2 := &doorway.AppVersion{ID: "ver_2", AppID: app.ID, CreatedAt: now, Manifest: doorway.Manifest{Name: "One", Version: "2"}}
	if err := a.AddAppVersion(ctx, v2, doorway.Live); err != nil {
		t.Fatal(err)
	}
	if got, err := a.App(ctx, app.ID); err != nil || got.LiveVersionID != v2.ID {
		t.Fatalf("this node: App = %+v, %v; want live version %s at once", got, err, v2.ID)
	}
	time.Sleep(sqlstore.AppCacheFor)
	if got, err := b.App(ctx, app.ID); err != nil || got.LiveVersionID != v2.ID {
		t.Fatalf("other node after %s: App = %+v, %v; want live version %s", sqlstore.AppCacheFor, got, err, v2.ID)
	}
}

// TestReadByKeyIgnoresCancellation: a read of one row runs to its end
// even when the caller's context is done (rowReader, which reads single
// rows, does not take it), while a write still stops.
func TestReadByKeyIgnoresCancellation(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "doorway.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u := &doorway.User{ID: "usr_reader", Email: "reader@example.com", PasswordHash: "x", CreatedAt: time.Now()}
	if err := db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := db.User(ctx, u.ID)
	if err != nil || got.Email != u.Email {
		t.Fatalf("User with a cancelled context = %+v, %v; want %s", got, err, u.Email)
	}
	err = db.CreateUser(ctx, &doorway.User{ID: "usr_late", Email: "late@example.com", PasswordHash: "x", CreatedAt: time.Now()})
	if err == nil {
		t.Fatal("CreateUser with a cancelled context succeeded; want the cancellation")
	}
}

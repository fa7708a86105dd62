package sqlite

import (
	"sync"
	"sync/atomic"
	"time"

	lib "modernc.org/sqlite/lib"
)

// walPin holds a read transaction open on a connection of its own, so that
// the reads beside it take no lock from the kernel.
//
// Why: in WAL mode a read holds a shared lock on one of the WAL's read
// marks while it runs. SQLite counts those locks within the process and
// asks the kernel (fcntl(2)) only for the first taken and the last let
// go; a read of one row ends before the next begins, so every read paid
// two system calls. While the pin holds the mark the readers use, theirs
// are counted in the process: BenchmarkReadByKey's row-reader, 6.5–7.3 µs
// a read without the pin, 3.7–4.6 µs with it. What they read
// does not change: each read still starts its own transaction and sees
// every commit before it.
//
// What the pin must not do is hold back the checkpoint or the WAL's
// restart. A checkpoint copies nothing past the oldest snapshot a reader
// holds, and nothing at all while a reader holds mark 0 (the database
// file, once the WAL has been copied back); the writer starts the WAL over
// from its beginning only when no reader holds marks 1–4. So the pin is
// let go around every checkpoint (checkpoint, in sqlite.go), and moved to
// the newest snapshot after a commit: a reader that sees the database
// changed moves it, at most once a millisecond. It never waits for a lock
// (no busy timeout): a pin that cannot be taken is tried again after the
// next commit or checkpoint, and reads go on without it meanwhile. And it
// is not kept when no one reads: a checkpoint that finds no read since the
// one before lets it go until the next read, so at rest the database has
// no reader, and another process's RESTART or TRUNCATE checkpoint (a
// backup tool's, say) does not wait on one.
type walPin struct {
	path    string
	mu      sync.Mutex // held to take, let go of or move the pin
	c       rawConn
	held    bool
	closed  bool
	stale   atomic.Bool  // a commit came after the pin's snapshot (or it is not held)
	used    atomic.Bool  // a read came since the last checkpoint
	movedAt atomic.Int64 // when the pin was last taken, in ns since pinEpoch
}

// pinEpoch makes movedAt monotonic.
var pinEpoch = time.Now()

// pinEvery is how often at most readers move the pin.
const pinEvery = time.Millisecond

func newWALPin(path string) *walPin {
	p := &walPin{path: path}
	p.stale.Store(true) // taken by the first read
	return p
}

// take begins the pin's read transaction. mu is held.
func (p *walPin) take() {
	if p.held || p.closed {
		return
	}
	// Counted from the attempt: one that fails is not retried by every
	// read that follows, only after pinEvery.
	p.movedAt.Store(int64(time.Since(pinEpoch)))
	if p.c.db == 0 {
		if err := p.c.open(p.path, readOnly); err != nil {
			return
		}
		lib.Xsqlite3_busy_timeout(p.c.tls, p.c.db, 0)
	}
	// BEGIN alone takes no lock; the first read of the database does.
	if err := p.c.run("BEGIN"); err != nil {
		return
	}
	if err := p.c.run("SELECT count(*) FROM sqlite_schema"); err != nil {
		p.c.run("ROLLBACK")
		return
	}
	p.held = true
}

// letGo ends the pin's read transaction. mu is held.
func (p *walPin) letGo() {
	if !p.held {
		return
	}
	p.held = false
	if err := p.c.run("COMMIT"); err != nil {
		p.c.run("ROLLBACK")
	}
}

// moveIfStale moves the pin to the newest snapshot if a reader saw a
// commit after it, unless it was moved within pinEvery or is being moved.
func (p *walPin) moveIfStale() {
	if !p.used.Load() {
		p.used.Store(true)
	}
	if !p.stale.Load() || time.Since(pinEpoch)-time.Duration(p.movedAt.Load()) < pinEvery || !p.mu.TryLock() {
		return
	}
	defer p.mu.Unlock()
	p.stale.Store(false) // a commit seen from now on marks it again
	p.letGo()
	p.take()
	if !p.held {
		p.stale.Store(true)
	}
}

// around lets go of the pin while f runs (a checkpoint), then takes it
// again if it was held and a read came since the last time: an unused pin
// stays let go until the next read takes it.
func (p *walPin) around(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	again := p.held && p.used.Swap(false)
	p.letGo()
	f()
	if again {
		p.take()
	}
	if !p.held {
		p.stale.Store(true)
	}
}

func (p *walPin) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.letGo()
	p.closed = true
	p.c.close()
}

package sqlite

import (
	"sync/atomic"
	"unsafe"

	lib "modernc.org/sqlite/lib"
)

// A reader's cached pages outlive other connections' commits, all but the
// pages a commit wrote.
//
// SQLite empties a connection's page cache whenever it begins a read and
// finds that another connection has committed since its last one
// (pagerBeginReadTransaction: the WAL's header changed, so pager_reset).
// A reader of a store that commits hundreds of times a second therefore
// reads every page of every lookup again, each a pread(2) and a search of
// the WAL's index: BenchmarkReadBesideCommits, a read by key with one
// commit to another table before it, cost 23–24 µs, against 6 µs for the
// same read with no commits between (BenchmarkReadByKey); with keep, 15.
//
// But a WAL says exactly which pages changed: every page a commit writes
// is a frame, and the WAL's index lists each frame's page number. Between
// a reader's last snapshot and its new one, in the same WAL (the same
// salts), the pages that changed are those of frames (old mxFrame, new
// mxFrame]; every other page reads the same as it did. So when SQLite
// empties a reader's cache for that reason, keep keeps every page but
// those, and SQLite finds them as it left them, its header for each
// page and the b-tree's parse of it still filled in.
//
// It keeps nothing, and the cache empties as SQLite asked, whenever that
// reasoning might not hold: the WAL started over (new salts); it shrank or
// the database did; the reset is not the one a new snapshot causes (the
// snapshot did not move: an error, a page-size change, a reset asked for);
// the pager is in error; a page is held; an index block is not mapped in
// this connection; or the WAL started over while the frames were read
// (its header's salts, read again after them, changed). Committed frames
// of one WAL are never rewritten: a WAL is only overwritten after it
// starts over, which changes its salts first.
//
// Only the readers' caches are bound (follow, after a connection's first
// read); the writer's sees its own commits and is never emptied by them,
// and a cache not bound behaves as SQLite's.

// keepFrames is the most frames a reader's new snapshot may be past its
// last for keep to look at each; past it, emptying the cache is cheaper.
const keepFrames = 4096

// follow binds the cache of c's main database to c's pager, once c has
// read: from then on, keep decides what another connection's commit
// empties. It returns whether the cache is bound.
func (c *rawConn) follow() bool {
	if c.db == 0 {
		return false
	}
	db := at[lib.Tsqlite3](c.db)
	if db.FnDb < 1 || db.FaDb == 0 {
		return false
	}
	main := at[lib.TDb](db.FaDb)
	if main.FpBt == 0 {
		return false
	}
	bt := at[lib.TBtree](main.FpBt)
	if bt.FpBt == 0 {
		return false
	}
	pager := at[lib.TBtShared](bt.FpBt).FpPager
	if pager == 0 {
		return false
	}
	p := at[lib.TPager](pager)
	if p.FpPCache == 0 || p.FpWal == 0 {
		return false
	}
	h := at[lib.TPCache](p.FpPCache).FpCache
	cache := cacheOf(h)
	if cache == nil {
		return false
	}
	cache.bind(h, pager)
	return true
}

// bind ties c (whose handle is h) to pager, whose reader's snapshot is
// the one c's pages were read at.
func (c *pageCache) bind(h, pager uintptr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handle, c.pager = h, pager
	hdr := at[lib.TWal](at[lib.TPager](pager).FpWal).Fhdr
	c.salt, c.mxFrame, c.nPage = hdr.FaSalt, hdr.FmxFrame, hdr.FnPage
}

// keep is truncate(1) for a bound cache: it drops the pages written
// between the snapshot c's pages were read at and the pager's new one,
// and reports whether it kept the rest. When it does not, the caller
// empties c. Either way c's snapshot becomes the pager's. c.mu is held.
func (c *pageCache) keep() bool {
	p := at[lib.TPager](c.pager)
	if p.FerrCode != 0 || p.FpWal == 0 || p.FpPCache == 0 || at[lib.TPCache](p.FpPCache).FpCache != c.handle {
		c.pager = 0 // not the pager it was bound to: never again
		return false
	}
	w := at[lib.TWal](p.FpWal)
	hdr := w.Fhdr
	from, salt, nPage := c.mxFrame, c.salt, c.nPage
	c.salt, c.mxFrame, c.nPage = hdr.FaSalt, hdr.FmxFrame, hdr.FnPage
	if hdr.FaSalt != salt || hdr.FmxFrame <= from || hdr.FmxFrame-from > keepFrames ||
		hdr.FnPage < nPage || c.pinned > 0 {
		return false
	}
	for f := from + 1; f <= hdr.FmxFrame; f++ {
		pgno, ok := framePage(w, f)
		if !ok {
			return false
		}
		if s := c.pages[pgno]; s != nil {
			c.drop(s)
		}
	}
	// The frames were this WAL's if it has not started over since: the
	// writer changes the salts in the shared header before it writes a
	// frame of the next.
	if w.FnWiData < 1 {
		return false
	}
	shared := *at[uintptr](w.FapWiData) + unsafe.Offsetof(hdr.FaSalt)
	return atomic.LoadUint32(at[uint32](shared)) == hdr.FaSalt[0] &&
		atomic.LoadUint32(at[uint32](shared+4)) == hdr.FaSalt[1]
}

// framePage is the page number of WAL frame f (from 1) in w's index, as
// SQLite's walFramePgno reads it, and false if the index block holding it
// is not mapped in this connection.
func framePage(w *lib.TWal, f uint32) (uint32, bool) {
	block := (f + lib.HASHTABLE_NPAGE - lib.HASHTABLE_NPAGE_ONE - 1) / lib.HASHTABLE_NPAGE
	if int32(block) >= w.FnWiData {
		return 0, false
	}
	base := *at[uintptr](w.FapWiData + uintptr(block)*unsafe.Sizeof(uintptr(0)))
	if base == 0 {
		return 0, false
	}
	var i uintptr
	if block == 0 {
		i = lib.WALINDEX_HDR_SIZE/4 + uintptr(f) - 1
	} else {
		i = (uintptr(f) - 1 - lib.HASHTABLE_NPAGE_ONE) % lib.HASHTABLE_NPAGE
	}
	return atomic.LoadUint32(at[uint32](base + 4*i)), true
}

// at is the C value of type T at p.
func at[T any](p uintptr) *T { return (*T)(cmem(p)) }

// cmem is the C address p as a pointer. SQLite's memory is not Go's heap,
// so the collector neither moves nor frees it.
func cmem(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

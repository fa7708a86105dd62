package sqlite

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// SQLite's page cache, packed.
//
// SQLite keeps each connection's cached pages in its page cache, and its
// default one (pcache1) allocates a page and its header together with
// malloc: 4,096 + ~200 bytes. modernc's allocator rounds that up to an
// 8 KB slot, seven to a 64 KB span, so a cached page cost the server
// twice its size, and the writer's 32 MB cache about 62 MB of RSS once
// full: at a million installations, most of the 130–149 MB the server
// peaked at under b, against a 150 MB target (BENCHMARKS.md).
//
// This cache is pcache1's policy (least-recently-used recycling, the same
// refusals that make SQLite spill) but for one change (below), over
// memory laid out for it: each connection's pages are slots in slabs it
// maps itself, a slot being the page, SQLite's header for it and the
// sqlite3_pcache_page that points at both, one after the other. A slot
// is memory the kernel backs only once it is touched, so a cache costs
// what it holds, and a page evicted leaves its slot for the next, so it
// never costs more than its high water mark. It is installed with SQLITE_CONFIG_PCACHE2 directly
// rather than through modernc's RegisterPageCache, whose binding keeps a
// map entry and a malloc'd stub for every page number a connection has
// ever fetched until the next commit empties its cache: a reader serving
// tokens at random from a million installations grows it without bound.
//
// Where the kernel cannot map memory (newSlab is nil: not a Unix
// system) SQLite keeps its own.
//
// The change: a B-tree's interior pages outlast its leaves. A random read
// of a table larger than the cache walks from the root through interior
// pages, each on the way to hundreds of leaves, to a leaf it is unlikely
// to want again soon; under plain LRU every read's leaf pushed an interior
// page towards the end of the list, so random reads of a million
// installations (265 interior pages) through a reader's 2 MB cache read
// 1.25 pages each from the OS where the leaf is one (BENCHMARKS.md).
// Unpinned interior pages wait on a list of their own, and a page is
// recycled from the leaves' list first, unless interior pages hold more
// than innerShare of the cache or no leaf is left to recycle.

// innerShare is the share of a cache its interior pages may keep ahead of
// its leaves, in quarters: the rest stays with the leaves (and every
// other kind of page), whose hot few (a session, an app) are read again.
const innerShare = 3

// slabSize is the memory a cache maps at a time: 1 MiB of address space
// (240-odd pages), which costs nothing until it is used.
const slabSize = 1 << 20

// spareSlabs keeps the slabs of caches SQLite has destroyed, for the
// next it creates: it makes one for every temporary table a statement
// sorts or de-duplicates into, and a fresh mapping faults its pages in
// one at a time. maxSpare bounds what they keep.
var spareSlabs struct {
	sync.Mutex
	slabs [][]byte
}

const maxSpare = 4

func takeSlab() []byte {
	spareSlabs.Lock()
	defer spareSlabs.Unlock()
	if n := len(spareSlabs.slabs); n > 0 {
		b := spareSlabs.slabs[n-1]
		spareSlabs.slabs = spareSlabs.slabs[:n-1]
		return b
	}
	return newSlab(slabSize)
}

func giveSlab(b []byte) {
	spareSlabs.Lock()
	defer spareSlabs.Unlock()
	if len(spareSlabs.slabs) < maxSpare {
		spareSlabs.slabs = append(spareSlabs.slabs, b)
		return
	}
	freeSlab(b)
}

// pageCache is one connection's cache: SQLite serialises the calls to
// it, and mu makes that visible to the race detector.
type pageCache struct {
	mu        sync.Mutex
	purgeable bool // false for in-memory databases, whose pages are the data
	pageSize  int
	extraSize int // SQLite's header and the pager's extra bytes
	stubAt    int // where in a slot its sqlite3_pcache_page is
	stride    int // bytes a slot takes
	perSlab   int // slots a slab holds
	max       int // pages kept (PRAGMA cache_size)
	pages     map[uint32]*slot
	maxKey    uint32            // no page above it (Truncate skips the walk)
	pinned    int               // pages SQLite holds
	lru       slot              // sentinel: lru.next is the page unpinned last (but interior pages)
	inner     slot              // sentinel: the same for unpinned interior pages
	inners    int               // pages on inner
	free      []*slot           // slots no page is in
	all       []*slot           // every slot handed out
	bySlot    map[uintptr]*slot // each slot by its sqlite3_pcache_page
	slabs     [][]byte
	carved    int // slots handed out of the last slab

	// A reader's cache, once bound to its pager (pagekeep.go): its
	// handle, and the WAL snapshot its pages were read at.
	handle, pager  uintptr
	salt           [2]uint32
	mxFrame, nPage uint32
}

// slot is one page's place: buf, then SQLite's extra bytes, then the
// sqlite3_pcache_page pointing at both.
type slot struct {
	key        uint32
	pinned     bool
	inner      bool // on the interior pages' list
	stub       uintptr
	buf        []byte // the page
	extra      []byte
	prev, next *slot // the LRU list, while unpinned
}

// interior reports whether s holds an interior page of a B-tree, by its
// header's first byte (after the database header on page 1). A page that
// is no B-tree's (an overflow or free-list page) may read as one: it is
// then only kept longer, never wrongly.
func (s *slot) interior() bool {
	at := 0
	if s.key == 1 {
		at = 100
	}
	t := s.buf[at]
	return t == 2 || t == 5 // interior index, interior table
}

func newPageCache(pageSize, extraSize int, purgeable bool) *pageCache {
	c := &pageCache{purgeable: purgeable, pageSize: pageSize, extraSize: extraSize,
		stubAt: (pageSize + extraSize + 7) &^ 7, pages: map[uint32]*slot{}, bySlot: map[uintptr]*slot{}}
	c.stride = (c.stubAt + int(unsafe.Sizeof(lib.Tsqlite3_pcache_page{})) + 15) &^ 15
	c.perSlab = slabSize / c.stride
	c.lru.prev, c.lru.next = &c.lru, &c.lru
	c.inner.prev, c.inner.next = &c.inner, &c.inner
	return c
}

// fetch is xFetch: the page cached under key, pinned, or for createFlag
// 1 or 2 a slot for it. pcache1's rules: 1 is refused once nine pages in
// ten are pinned (SQLite then writes dirty pages out and asks with 2);
// either recycles the page unpinned longest ago once the cache is full;
// 2 takes a new slot when every page is pinned.
func (c *pageCache) fetch(key uint32, createFlag int32) uintptr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.pages[key]; s != nil {
		if !s.pinned {
			c.unlink(s)
			s.pinned = true
			c.pinned++
		}
		return s.stub
	}
	if createFlag == 0 || (createFlag == 1 && c.pinned >= c.max*9/10 && c.purgeable) {
		return 0
	}
	var s *slot
	if v := c.victim(); c.purgeable && v != nil && len(c.pages)+1 >= c.max {
		s = v
		c.unlink(s)
		delete(c.pages, s.key)
	} else if s = c.slot(); s == nil {
		return 0
	}
	// A new page: SQLite reads the header's first pointer as "not yet
	// initialised" when it is zero (pcache1 clears it the same way).
	clear(s.extra[:8])
	s.key, s.pinned = key, true
	c.pinned++
	c.pages[key] = s
	c.maxKey = max(c.maxKey, key)
	return s.stub
}

// slot returns a free slot, carving one from the last slab or a new one.
func (c *pageCache) slot() *slot {
	if n := len(c.free); n > 0 {
		s := c.free[n-1]
		c.free = c.free[:n-1]
		return s
	}
	if len(c.slabs) == 0 || c.carved == c.perSlab {
		slab := takeSlab()
		if slab == nil {
			return nil
		}
		c.slabs, c.carved = append(c.slabs, slab), 0
	}
	slab, at := c.slabs[len(c.slabs)-1], c.carved*c.stride
	c.carved++
	b := slab[at : at+c.stride]
	stub := (*lib.Tsqlite3_pcache_page)(unsafe.Pointer(&b[c.stubAt]))
	stub.FpBuf = uintptr(unsafe.Pointer(&b[0]))
	stub.FpExtra = uintptr(unsafe.Pointer(&b[c.pageSize]))
	s := &slot{stub: uintptr(unsafe.Pointer(stub)), buf: b[:c.pageSize], extra: b[c.pageSize : c.pageSize+c.extraSize]}
	c.bySlot[s.stub] = s
	c.all = append(c.all, s)
	return s
}

// unpin is xUnpin: the page is kept, most recently used, unless SQLite
// has no more use for it or the cache holds more than it should.
func (c *pageCache) unpin(stub uintptr, discard bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.bySlot[stub]
	if s == nil || !s.pinned {
		return
	}
	if discard || (c.purgeable && len(c.pages) > c.max) {
		c.drop(s)
		return
	}
	s.pinned = false
	c.pinned--
	c.pushLRU(s)
}

// pushLRU puts s, unpinned, at the front of its LRU list: the interior
// pages' or the others'.
func (c *pageCache) pushLRU(s *slot) {
	head := &c.lru
	if s.inner = s.interior(); s.inner {
		head = &c.inner
		c.inners++
	}
	s.next, s.prev = head.next, head
	s.next.prev, head.next = s, s
}

// victim is the unpinned page to recycle next, or nil when SQLite holds
// every page: the leaf (or other page) unpinned longest ago, or the
// interior page unpinned longest ago once interior pages hold more than
// innerShare of the cache or no other page is left.
func (c *pageCache) victim() *slot {
	leaf, inner := c.lru.prev, c.inner.prev
	switch {
	case inner != &c.inner && (leaf == &c.lru || c.inners*4 > c.max*innerShare):
		return inner
	case leaf != &c.lru:
		return leaf
	}
	return nil
}

// drop takes s's page out of the cache and frees its slot.
func (c *pageCache) drop(s *slot) {
	if s.pinned {
		s.pinned = false
		c.pinned--
	} else {
		c.unlink(s)
	}
	delete(c.pages, s.key)
	c.free = append(c.free, s)
}

// unlink takes s, unpinned, off its LRU list.
func (c *pageCache) unlink(s *slot) {
	if s.inner {
		s.inner = false
		c.inners--
	}
	s.prev.next, s.next.prev = s.next, s.prev
	s.prev, s.next = nil, nil
}

// rekey is xRekey: the page at stub moves from oldKey to newKey, and
// the page there before, unpinned, leaves the cache.
func (c *pageCache) rekey(stub uintptr, oldKey, newKey uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.bySlot[stub]
	if s == nil {
		return
	}
	if other := c.pages[newKey]; other != nil && other != s {
		c.drop(other)
	}
	delete(c.pages, oldKey)
	s.key = newKey
	c.pages[newKey] = s
	c.maxKey = max(c.maxKey, newKey)
}

// truncate is xTruncate: every page from limit up leaves the cache,
// pinned or not. SQLite empties a cache with limit 1 (or 2, keeping page
// 1 while it holds it), which a reader's does whenever another
// connection has committed: so a small limit resets the cache and puts
// back the few pages below it, rather than walk the map. But a bound
// reader's cache keeps, after another connection's commit, what the
// commit did not write (keep, pagekeep.go).
func (c *pageCache) truncate(limit uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if limit == 1 && c.pager != 0 && c.keep() {
		return
	}
	if len(c.pages) == 0 || limit > c.maxKey {
		return
	}
	if limit > 8 {
		for key, s := range c.pages {
			if key >= limit {
				c.drop(s)
			}
		}
		c.maxKey = limit - 1
		return
	}
	var below [8]*slot
	keep := below[:0]
	for key := range limit {
		if s := c.pages[key]; s != nil {
			keep = append(keep, s)
		}
	}
	clear(c.pages)
	c.free = c.free[:0]
	for _, s := range c.all {
		if !slices.Contains(keep, s) {
			s.pinned, s.inner, s.prev, s.next = false, false, nil, nil
			c.free = append(c.free, s)
		}
	}
	c.lru.prev, c.lru.next = &c.lru, &c.lru
	c.inner.prev, c.inner.next = &c.inner, &c.inner
	c.pinned, c.inners, c.maxKey = 0, 0, 0
	for _, s := range keep {
		c.pages[s.key] = s
		c.maxKey = max(c.maxKey, s.key)
		if s.pinned {
			c.pinned++
		} else {
			s.inner = false
			c.pushLRU(s)
		}
	}
}

// setSize is xCachesize; shrink is xShrink, which drops every page
// SQLite does not hold.
func (c *pageCache) setSize(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.purgeable {
		return
	}
	c.max = n
	for len(c.pages) > c.max {
		v := c.victim()
		if v == nil {
			break
		}
		c.drop(v)
	}
}

func (c *pageCache) shrink() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.purgeable {
		v := c.victim()
		if v == nil {
			break
		}
		c.drop(v)
	}
}

func (c *pageCache) pageCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pages)
}

func (c *pageCache) destroy() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, slab := range c.slabs {
		giveSlab(slab)
	}
	c.slabs, c.pages, c.bySlot, c.free, c.all = nil, nil, nil, nil, nil
}

// The caches SQLite has made, by handle. SQLite hands a handle back on
// every call, so finding its cache must cost next to nothing: the table
// is read without a lock, and replaced whole (under cachesMu) when a
// connection opens or closes.
var (
	cachesMu sync.Mutex
	caches   atomic.Pointer[[]*pageCache] // handle h is caches[h-1]
)

func cacheOf(h uintptr) *pageCache {
	t := *caches.Load()
	if h == 0 || h > uintptr(len(t)) {
		return nil
	}
	return t[h-1]
}

// register gives c the first free handle.
func register(c *pageCache) uintptr {
	cachesMu.Lock()
	defer cachesMu.Unlock()
	t := append([]*pageCache(nil), *caches.Load()...)
	i := 0
	for i < len(t) && t[i] != nil {
		i++
	}
	if i == len(t) {
		t = append(t, nil)
	}
	t[i] = c
	caches.Store(&t)
	return uintptr(i + 1)
}

func unregister(h uintptr) {
	cachesMu.Lock()
	defer cachesMu.Unlock()
	t := append([]*pageCache(nil), *caches.Load()...)
	t[h-1] = nil
	caches.Store(&t)
}

// The sqlite3_pcache_methods2 functions. SQLite calls them through
// function pointers, which modernc's transpiled C represents as the
// address of a Go func value (https://golang.org/s/go11func).

// pcache1Init and pcache1Shutdown are SQLite's own cache's. SQLite still
// takes each pager's scratch page from pcache1's allocator, which counts
// it under a mutex that pcache1's xInit makes, so ours calls it.
var pcache1Init, pcache1Shutdown uintptr

func pcacheInit(tls *libc.TLS, arg uintptr) int32 {
	return (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{pcache1Init})))(tls, arg)
}

func pcacheShutdown(tls *libc.TLS, arg uintptr) {
	(*(*func(*libc.TLS, uintptr))(unsafe.Pointer(&struct{ uintptr }{pcache1Shutdown})))(tls, arg)
}

func pcacheCreate(_ *libc.TLS, szPage, szExtra, bPurgeable int32) uintptr {
	return register(newPageCache(int(szPage), int(szExtra), bPurgeable != 0))
}

func pcacheCachesize(_ *libc.TLS, h uintptr, n int32) {
	if c := cacheOf(h); c != nil {
		c.setSize(int(n))
	}
}

func pcachePagecount(_ *libc.TLS, h uintptr) int32 {
	if c := cacheOf(h); c != nil {
		return int32(c.pageCount())
	}
	return 0
}

func pcacheFetch(_ *libc.TLS, h uintptr, key uint32, createFlag int32) uintptr {
	if c := cacheOf(h); c != nil {
		return c.fetch(key, createFlag)
	}
	return 0
}

func pcacheUnpin(_ *libc.TLS, h, page uintptr, discard int32) {
	if c := cacheOf(h); c != nil {
		c.unpin(page, discard != 0)
	}
}

func pcacheRekey(_ *libc.TLS, h, page uintptr, oldKey, newKey uint32) {
	if c := cacheOf(h); c != nil {
		c.rekey(page, oldKey, newKey)
	}
}

func pcacheTruncate(_ *libc.TLS, h uintptr, limit uint32) {
	if c := cacheOf(h); c != nil {
		c.truncate(limit)
	}
}

func pcacheDestroy(_ *libc.TLS, h uintptr) {
	if c := cacheOf(h); c != nil {
		c.destroy()
		unregister(h)
	}
}

func pcacheShrink(_ *libc.TLS, h uintptr) {
	if c := cacheOf(h); c != nil {
		c.shrink()
	}
}

// funcPointer is f as modernc's C calls a function pointer.
func funcPointer[T any](f T) uintptr { return *(*uintptr)(unsafe.Pointer(&struct{ f T }{f})) }

// installPageCache makes SQLite use pageCache for every connection the
// process opens. SQLite accepts it only before its first connection, so
// it runs from this package's init.
func installPageCache() error {
	if newSlab == nil {
		return nil
	}
	caches.Store(&[]*pageCache{})
	tls := libc.NewTLS()
	defer tls.Close()
	// SQLite copies the methods; they, and the argument list, are C
	// memory, which the transpiled code may read without Go's checks.
	m := libc.Xcalloc(tls, 1, uint64(unsafe.Sizeof(lib.Tsqlite3_pcache_methods2{})))
	args := libc.Xmalloc(tls, 8)
	if m == 0 || args == 0 {
		return errors.New("sqlite: out of memory installing the page cache")
	}
	defer libc.Xfree(tls, m)
	defer libc.Xfree(tls, args)
	if rc := lib.Xsqlite3_config(tls, lib.SQLITE_CONFIG_GETPCACHE2, libc.VaList(args, m)); rc != lib.SQLITE_OK {
		return fmt.Errorf("sqlite: SQLITE_CONFIG_GETPCACHE2 refused (%d)", rc)
	}
	var pcache1 lib.Tsqlite3_pcache_methods2
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&pcache1)), unsafe.Sizeof(pcache1)), libc.GoBytes(m, int(unsafe.Sizeof(pcache1))))
	if pcache1.FxInit == 0 || pcache1.FxShutdown == 0 {
		return errors.New("sqlite: SQLite's own page cache has no xInit or xShutdown to call")
	}
	pcache1Init, pcache1Shutdown = pcache1.FxInit, pcache1.FxShutdown
	methods := lib.Tsqlite3_pcache_methods2{
		FiVersion: 1, FxInit: funcPointer(pcacheInit), FxShutdown: funcPointer(pcacheShutdown),
		FxCreate: funcPointer(pcacheCreate), FxCachesize: funcPointer(pcacheCachesize),
		FxPagecount: funcPointer(pcachePagecount), FxFetch: funcPointer(pcacheFetch),
		FxUnpin: funcPointer(pcacheUnpin), FxRekey: funcPointer(pcacheRekey),
		FxTruncate: funcPointer(pcacheTruncate), FxDestroy: funcPointer(pcacheDestroy),
		FxShrink: funcPointer(pcacheShrink),
	}
	copy(libc.GoBytes(m, int(unsafe.Sizeof(methods))), unsafe.Slice((*byte)(unsafe.Pointer(&methods)), unsafe.Sizeof(methods)))
	if rc := lib.Xsqlite3_config(tls, lib.SQLITE_CONFIG_PCACHE2, libc.VaList(args, m)); rc != lib.SQLITE_OK {
		return fmt.Errorf("sqlite: SQLITE_CONFIG_PCACHE2 refused (%d): a connection was opened first", rc)
	}
	return nil
}

package sqlite

import (
	"sync"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// The writer's WAL writes, gathered.
//
// A commit appends a frame to the WAL for every page it changed: SQLite
// writes the frame's 24-byte header and then its page, two pwrite(2)s a
// frame, one frame after the other. During b that was 27 system calls an
// install (perf stat), and the commit's writes were the largest part of
// the writer's time left once its statements went through the C API.
//
// So the writer's WAL file is given I/O methods that gather writes that
// follow one another in the file and hand them to SQLite's own (the unix
// VFS's) as one write:
//
//   - A write that begins where the last one ended is held, up to
//     walHoldMax bytes; any other write first writes what is held.
//   - A commit's frames are written before its xWrite returns: the write
//     that follows a commit frame's header (one whose second word, the
//     database size, is not zero) is that frame's page, and what is held
//     is written with it. SQLite makes a commit visible to other
//     connections only after that, and a crash after it finds the frames
//     in the file, as before.
//   - Every other method (read, sync, size, truncate, file control, close)
//     first writes what is held, so SQLite never reads or syncs around it.
//
// Frames held are those of a transaction not yet committed (a large one
// spills pages to the WAL before its commit): until a commit frame follows
// them they are invisible to readers and ignored by recovery, so holding
// them changes nothing a crash could lose. Headers SQLite rewrites in place
// (when a transaction wrote a page twice, walRewriteChecksums) never begin
// where the last write ended, so they are written at once.
//
// Only the writer's connection has its WAL file so set up (at each Begin,
// if SQLite has opened another since); every other connection keeps
// SQLite's methods.

// walHoldMax is the most a WAL file holds: SQLite's unix VFS writes at
// most 128 KiB − 1 in one call (seekAndWriteFd masks the length with
// 0x1ffff, SQLite itself never writing more than a 64 KiB page), so a
// larger write would be cut short and reported as a full disk. It is 31
// frames of 4 KiB pages.
const walHoldMax = 0x1ffff

// walFile is what one WAL file holds.
type walFile struct {
	orig      lib.Tsqlite3_io_methods // SQLite's methods for the file
	buf       uintptr                 // walHoldMax bytes of C memory; 0 holds nothing
	off       int64                   // where buf[:n] goes in the file
	n         int
	next      int64 // where the last write ended; -1 if not known
	commitEnd int64 // where the page of the last commit frame's header begins; -1 if none

	syncLater bool       // the file's syncer syncs it after a write (walsync.go)
	syncer    *walSyncer // from the first write, if syncLater
}

var walFiles struct {
	sync.Mutex
	files map[uintptr]*walFile // by sqlite3_file
	ours  map[uintptr]uintptr  // SQLite's methods → ours (C memory, kept for the process)
}

var methodsSize = int(unsafe.Sizeof(lib.Tsqlite3_io_methods{}))

func methodsAt(p uintptr) (m lib.Tsqlite3_io_methods) {
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&m)), methodsSize), libc.GoBytes(p, methodsSize))
	return m
}

// gatherWALWrites gives the WAL file of the connection db these methods,
// unless it has them already, and a syncer if syncLater (walsync.go). out
// is 8 bytes of C memory.
func gatherWALWrites(tls *libc.TLS, db, out uintptr, syncLater bool) {
	if lib.Xsqlite3_file_control(tls, db, 0, lib.SQLITE_FCNTL_JOURNAL_POINTER, out) != lib.SQLITE_OK {
		return
	}
	file := libc.AtomicLoadPUintptr(out)
	if file == 0 {
		return
	}
	methods := libc.AtomicLoadPUintptr(file) // sqlite3_file's first field
	if methods == 0 {
		return // not open
	}
	walFiles.Lock()
	defer walFiles.Unlock()
	if walFiles.files[file] != nil {
		return
	}
	orig := methodsAt(methods)
	ours, ok := walFiles.ours[methods]
	if !ok {
		m := orig
		m.FxClose = funcPointer(walClose)
		m.FxRead = funcPointer(walRead)
		m.FxWrite = funcPointer(walWrite)
		m.FxTruncate = funcPointer(walTruncate)
		m.FxSync = funcPointer(walSync)
		m.FxFileSize = funcPointer(walFileSize)
		m.FxFileControl = funcPointer(walFileControl)
		if m.FiVersion >= 3 && m.FxFetch != 0 {
			m.FxFetch = funcPointer(walFetch)
		}
		if ours = libc.Xcalloc(tls, 1, uint64(methodsSize)); ours == 0 {
			return
		}
		copy(libc.GoBytes(ours, methodsSize), unsafe.Slice((*byte)(unsafe.Pointer(&m)), methodsSize))
		if walFiles.ours == nil {
			walFiles.ours = map[uintptr]uintptr{}
		}
		walFiles.ours[methods] = ours
	}
	buf := libc.Xmalloc(tls, walHoldMax)
	if buf == 0 {
		return
	}
	if walFiles.files == nil {
		walFiles.files = map[uintptr]*walFile{}
	}
	walFiles.files[file] = &walFile{orig: orig, buf: buf, next: -1, commitEnd: -1, syncLater: syncLater && canSync}
	libc.AtomicStorePUintptr(file, ours)
}

// walFileOf is what file holds. A file with these methods is always
// known (only walClose forgets one, and SQLite calls nothing after it);
// were one not, it would be given SQLite's methods back and hold nothing.
func walFileOf(file uintptr) *walFile {
	walFiles.Lock()
	defer walFiles.Unlock()
	if w := walFiles.files[file]; w != nil {
		return w
	}
	ours := libc.AtomicLoadPUintptr(file)
	for methods, m := range walFiles.ours {
		if m == ours {
			libc.AtomicStorePUintptr(file, methods)
			w := &walFile{orig: methodsAt(methods), next: -1, commitEnd: -1}
			walFiles.files[file] = w
			return w
		}
	}
	panic("sqlite: a WAL file with Doorway's methods that Doorway does not know")
}

func call[F any](fp uintptr) F { return *(*F)(unsafe.Pointer(&struct{ uintptr }{fp})) }

// flush writes what is held.
func (w *walFile) flush(tls *libc.TLS, file uintptr) int32 {
	if w.n == 0 {
		return lib.SQLITE_OK
	}
	n := w.n
	w.n = 0
	rc := call[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](w.orig.FxWrite)(tls, file, w.buf, int32(n), w.off)
	if rc != lib.SQLITE_OK {
		w.next = -1
	} else {
		w.written(file)
	}
	return rc
}

func walWrite(tls *libc.TLS, file, p uintptr, amt int32, off int64) int32 {
	w := walFileOf(file)
	// This write is a commit frame's page if it begins where that
	// frame's header ended.
	commitPage := off == w.commitEnd
	w.commitEnd = -1
	if amt == 24 {
		if h := libc.GoBytes(p, 24); h[4]|h[5]|h[6]|h[7] != 0 {
			w.commitEnd = off + 24
		}
	}
	contiguous := w.next >= 0 && off == w.next && w.buf != 0
	w.next = off + int64(amt)
	if contiguous && w.n+int(amt) > walHoldMax {
		if rc := w.flush(tls, file); rc != lib.SQLITE_OK {
			return rc
		}
		w.next = off + int64(amt)
		contiguous = int(amt) <= walHoldMax
	}
	if !contiguous {
		if rc := w.flush(tls, file); rc != lib.SQLITE_OK {
			return rc
		}
		w.next = off + int64(amt)
		rc := call[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](w.orig.FxWrite)(tls, file, p, amt, off)
		if rc != lib.SQLITE_OK {
			w.next = -1
		} else {
			w.written(file)
		}
		return rc
	}
	if w.n == 0 {
		w.off = off
	}
	copy(libc.GoBytes(w.buf+uintptr(w.n), int(amt)), libc.GoBytes(p, int(amt)))
	w.n += int(amt)
	if commitPage {
		return w.flush(tls, file)
	}
	return lib.SQLITE_OK
}

func walRead(tls *libc.TLS, file, p uintptr, amt int32, off int64) int32 {
	w := walFileOf(file)
	if rc := w.flush(tls, file); rc != lib.SQLITE_OK {
		return rc
	}
	return call[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](w.orig.FxRead)(tls, file, p, amt, off)
}

func walTruncate(tls *libc.TLS, file uintptr, size int64) int32 {
	w := walFileOf(file)
	if rc := w.flush(tls, file); rc != lib.SQLITE_OK {
		return rc
	}
	w.next = -1
	return call[func(*libc.TLS, uintptr, int64) int32](w.orig.FxTruncate)(tls, file, size)
}

func walSync(tls *libc.TLS, file uintptr, flags int32) int32 {
	w := walFileOf(file)
	if rc := w.flush(tls, file); rc != lib.SQLITE_OK {
		return rc
	}
	return call[func(*libc.TLS, uintptr, int32) int32](w.orig.FxSync)(tls, file, flags)
}

func walFileSize(tls *libc.TLS, file, size uintptr) int32 {
	w := walFileOf(file)
	if rc := w.flush(tls, file); rc != lib.SQLITE_OK {
		return rc
	}
	return call[func(*libc.TLS, uintptr, uintptr) int32](w.orig.FxFileSize)(tls, file, size)
}

func walFileControl(tls *libc.TLS, file uintptr, op int32, arg uintptr) int32 {
	w := walFileOf(file)
	if rc := w.flush(tls, file); rc != lib.SQLITE_OK {
		return rc
	}
	return call[func(*libc.TLS, uintptr, int32, uintptr) int32](w.orig.FxFileControl)(tls, file, op, arg)
}

func walFetch(tls *libc.TLS, file uintptr, off int64, amt int32, pp uintptr) int32 {
	w := walFileOf(file)
	if rc := w.flush(tls, file); rc != lib.SQLITE_OK {
		return rc
	}
	return call[func(*libc.TLS, uintptr, int64, int32, uintptr) int32](w.orig.FxFetch)(tls, file, off, amt, pp)
}

// walClose writes what is held, forgets the file and closes it with
// SQLite's method.
func walClose(tls *libc.TLS, file uintptr) int32 {
	w := walFileOf(file)
	walFiles.Lock()
	delete(walFiles.files, file)
	walFiles.Unlock()
	rc := w.flush(tls, file)
	w.syncer.close()
	if w.buf != 0 {
		libc.Xfree(tls, w.buf)
	}
	if crc := call[func(*libc.TLS, uintptr) int32](w.orig.FxClose)(tls, file); rc == lib.SQLITE_OK {
		rc = crc
	}
	return rc
}

package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"

	"github.com/doorwayhq/doorway/store/sqlstore"
)

// rowReader runs the store's single-row reads (sqlstore.Dialect.Rows) on
// connections of its own, through SQLite's C API as the driver itself calls
// it, instead of through database/sql and the driver.
//
// Why: those reads are most of what a token costs the store (an instance
// token reads its installation, an introspection its grant, a sign-in its
// user), and for a read by key of a local file the path to the row cost
// more than the row. BenchmarkReadByKey, a row shaped like an installation
// read by id: 9.5–11.6 µs and 64 allocations through database/sql,
// 5.5–6.6 µs and 13 allocations here (and since the pin, below, and one
// copy for a row's text, 3.1–3.5 µs and 5). What it no longer pays for:
// database/sql's connection and statement bookkeeping and its
// conversions, the driver's column names and declared types (copied to Go
// strings on every query) and each value boxed in an interface, a C string
// allocated and freed for every text argument, and the connection's mutex (the driver opens connections
// FULLMUTEX; one of these is only ever used by one goroutine at a time, so
// it is opened NOMUTEX).
//
// Reads of many rows (Query) go through it too, read whole before they are
// handed over: the store's are a page of a list at most, and collected
// into a slice anyway. Writes go through the writer (writer.go). A read here does not heed the caller's cancellation (ctx is unused): on
// a local file it takes microseconds and never waits for a lock (WAL).
// Handing it to database/sql had cost two goroutines a query, its watcher
// and the driver's (the Dialect's Uncancelled, before this).
//
// The readers share one walPin (pin.go), which spares each read the two
// system calls of its WAL read lock.
//
// A read takes the connection most recently put back (a stack, not a
// queue): reads of one row rarely overlap, so one or two connections do
// nearly all of them, and their statements, cursors and page caches are
// more likely to be in the processor's caches from the read before than
// when all of them were taken in turn. Measured in the server (make
// bench, -scenarios a, five interleaved pairs), a token's server CPU
// against the signing floor's beside it went from 1.51 to 1.45 on
// average, which is inside the run-to-run noise; sequential reads now
// keep one connection open instead of all of them.
type rowReader struct {
	path  string
	slots chan struct{} // one per connection not in use
	mu    sync.Mutex
	idle  []*rawConn    // connections not in use, opened or not; the last was put back last
	done  chan struct{} // closed by close
	once  sync.Once
	pin   *walPin
}

// rawConn is one read-only connection with its prepared statements.
type rawConn struct {
	tls   *libc.TLS
	db    uintptr
	out   uintptr // 8 bytes for C's out-parameters
	arena uintptr // where text and blob arguments are copied for binding
	cap   int
	stmts map[string]*rawStmt
	seen  uint32 // the database's data version at the end of the last read
	kept  bool   // its page cache keeps what commits did not write (follow)
}

// rawStmt is a prepared statement and, for each of its parameters in
// SQLite's order, the index of the argument bound to it: $2 may come
// before $1 in the text, and $1 may appear twice.
type rawStmt struct {
	p    uintptr
	args []int
	cols int
}

var errReaderClosed = errors.New("sqlite: the store is closed")

func newRowReader(path string, conns int) *rowReader {
	r := &rowReader{path: path, slots: make(chan struct{}, conns), done: make(chan struct{}), pin: newWALPin(path)}
	for range conns {
		r.slots <- struct{}{}
		r.idle = append(r.idle, &rawConn{}) // opened on first use, as database/sql would
	}
	return r
}

// take waits for a connection not in use and returns the one put back
// last, or nil once the reader is closed.
func (r *rowReader) take() *rawConn {
	select {
	case <-r.slots:
	case <-r.done:
		return nil
	}
	r.mu.Lock()
	c := r.idle[len(r.idle)-1]
	r.idle = r.idle[:len(r.idle)-1]
	r.mu.Unlock()
	return c
}

// put gives c back.
func (r *rowReader) put(c *rawConn) {
	r.mu.Lock()
	r.idle = append(r.idle, c)
	r.mu.Unlock()
	r.slots <- struct{}{}
}

// QueryRow runs query with args and keeps its first row for Scan.
func (r *rowReader) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	c := r.take()
	if c == nil {
		return &row{err: errReaderClosed}
	}
	defer r.put(c)
	row := &row{}
	if c.db == 0 {
		if row.err = c.open(r.path, readOnly); row.err != nil {
			return row
		}
	}
	row.err = c.queryRow(query, args, true, row)
	if !c.kept {
		c.kept = c.follow()
	}
	if c.db != 0 && c.changed() {
		r.pin.stale.Store(true)
	}
	r.pin.moveIfStale()
	return row
}

// Query runs query with args and reads all of its rows. Unlike a read of
// one row, it heeds ctx: a list whose caller has gone is not read, and
// one whose caller goes while it is read stops (checked every
// rowsBetweenChecks rows).
func (r *rowReader) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := r.take()
	if c == nil {
		return nil, errReaderClosed
	}
	defer r.put(c)
	if c.db == 0 {
		if err := c.open(r.path, readOnly); err != nil {
			return nil, err
		}
	}
	rs, err := c.queryAll(ctx, query, args, true)
	if !c.kept {
		c.kept = c.follow()
	}
	if c.db != 0 && c.changed() {
		r.pin.stale.Store(true)
	}
	r.pin.moveIfStale()
	return rs, err
}

// close waits for every connection to be returned and closes it.
func (r *rowReader) close() {
	r.once.Do(func() {
		close(r.done)
		for range cap(r.slots) {
			<-r.slots
		}
		for _, c := range r.idle {
			c.close()
		}
		r.pin.close()
	})
}

// readOnly is how a reader's connection is set up: as the read pool's
// query_only, a statement that writes fails.
var readOnly = []string{"PRAGMA query_only = 1"}

// open opens the database at path and runs setup, statements without
// arguments, on the new connection.
func (c *rawConn) open(path string, setup []string) error {
	c.tls = libc.NewTLS()
	if c.out = libc.Xmalloc(c.tls, 8); c.out == 0 {
		c.close()
		return errors.New("sqlite: out of memory opening a reader")
	}
	name, err := libc.CString(path)
	if err != nil {
		c.close()
		return err
	}
	rc := lib.Xsqlite3_open_v2(c.tls, name, c.out, lib.SQLITE_OPEN_READWRITE|lib.SQLITE_OPEN_NOMUTEX, 0)
	libc.Xfree(c.tls, name)
	c.db = libc.AtomicLoadPUintptr(c.out)
	if rc != lib.SQLITE_OK {
		err := c.error(rc, "open "+path)
		c.close()
		return err
	}
	lib.Xsqlite3_extended_result_codes(c.tls, c.db, 1)
	lib.Xsqlite3_busy_timeout(c.tls, c.db, 5000) // as the pools' busy_timeout
	c.stmts = map[string]*rawStmt{}
	for _, q := range setup {
		if err := c.once(q); err != nil {
			c.close()
			return err
		}
	}
	return nil
}

func (c *rawConn) close() {
	if c.tls == nil {
		return
	}
	for _, s := range c.stmts {
		lib.Xsqlite3_finalize(c.tls, s.p)
	}
	if c.db != 0 {
		lib.Xsqlite3_close_v2(c.tls, c.db)
	}
	if c.arena != 0 {
		libc.Xfree(c.tls, c.arena)
	}
	if c.out != 0 {
		libc.Xfree(c.tls, c.out)
	}
	c.tls.Close()
	*c = rawConn{}
}

// error is SQLite's message for rc on this connection, naming what failed.
func (c *rawConn) error(rc int32, what string) error {
	msg := "unknown error"
	if c.db != 0 {
		msg = libc.GoString(lib.Xsqlite3_errmsg(c.tls, c.db))
	}
	return fmt.Errorf("sqlite: %s (%d): %.200s", msg, rc, what)
}

// prepare returns query prepared, kept for the next time.
func (c *rawConn) prepare(query string) (*rawStmt, error) {
	if s := c.stmts[query]; s != nil {
		return s, nil
	}
	s, err := c.compile(query, lib.SQLITE_PREPARE_PERSISTENT)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = s
	return s, nil
}

// compile prepares query; the caller keeps or finalizes it.
func (c *rawConn) compile(query string, flags uint32) (*rawStmt, error) {
	z, err := libc.CString(query)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, z)
	if rc := lib.Xsqlite3_prepare_v3(c.tls, c.db, z, -1, flags, c.out, 0); rc != lib.SQLITE_OK {
		return nil, c.error(rc, query)
	}
	s := &rawStmt{p: libc.AtomicLoadPUintptr(c.out)}
	if s.p == 0 {
		return nil, fmt.Errorf("sqlite: no statement in %.200q", query)
	}
	s.cols = int(lib.Xsqlite3_column_count(c.tls, s.p))
	for i := range lib.Xsqlite3_bind_parameter_count(c.tls, s.p) {
		name := libc.GoString(lib.Xsqlite3_bind_parameter_name(c.tls, s.p, i+1))
		arg := int(i) // a bare ?
		if name != "" {
			n, err := strconv.Atoi(name[1:])
			if err != nil || n < 1 {
				lib.Xsqlite3_finalize(c.tls, s.p)
				return nil, fmt.Errorf("sqlite: parameter %s of %.200q: use ? or $1, $2, …", name, query)
			}
			arg = n - 1
		}
		s.args = append(s.args, arg)
	}
	return s, nil
}

// queryRow runs query (prepared and kept, if keep) and reads its first
// row into r. The statement is reset before returning, whatever happens:
// that ends its read transaction. Its text and blob bindings point into
// the arena (SQLITE_STATIC) and are all bound again before the next step.
// A statement that writes has made all of its changes by the first row
// (SQLite runs an INSERT … RETURNING to its end at the first step and
// keeps the rows it returns), so the rest are not stepped.
func (c *rawConn) queryRow(query string, args []any, keep bool, r *row) error {
	s, done, err := c.start(query, args, keep)
	if err != nil {
		return err
	}
	defer done()
	switch rc := lib.Xsqlite3_step(c.tls, s.p); rc {
	case lib.SQLITE_ROW:
	case lib.SQLITE_DONE:
		return sql.ErrNoRows
	default:
		return c.error(rc, query)
	}
	r.vals = c.columns(s)
	return nil
}

// columns copies the row s has stepped to.
func (c *rawConn) columns(s *rawStmt) []value {
	// Text and blob columns are copied out in one allocation, not one
	// each (an installation has nine): first where each is and its
	// length (sqlite3_column_bytes after sqlite3_column_text, as SQLite
	// asks), then the copies.
	vals := make([]value, s.cols)
	var at [maxTextCols]uintptr
	size := 0
	for i := range vals {
		v, col := &vals[i], int32(i)
		v.kind = lib.Xsqlite3_column_type(c.tls, s.p, col)
		switch v.kind {
		case lib.SQLITE_INTEGER:
			v.n = lib.Xsqlite3_column_int64(c.tls, s.p, col)
		case lib.SQLITE_FLOAT:
			v.n = int64(math.Float64bits(lib.Xsqlite3_column_double(c.tls, s.p, col)))
		case lib.SQLITE_TEXT, lib.SQLITE_BLOB:
			var p uintptr
			if v.kind == lib.SQLITE_TEXT {
				p = lib.Xsqlite3_column_text(c.tls, s.p, col)
			} else {
				p = lib.Xsqlite3_column_blob(c.tls, s.p, col)
			}
			if v.n = int64(lib.Xsqlite3_column_bytes(c.tls, s.p, col)); p == 0 {
				v.n = 0
			}
			if i < len(at) {
				at[i] = p
				size += int(v.n)
			} else if v.n > 0 { // past maxTextCols: a copy of its own
				v.s = string(libc.GoBytes(p, int(v.n)))
			}
		}
	}
	buf := make([]byte, size)
	for i := range min(len(vals), len(at)) {
		v := &vals[i]
		if (v.kind != lib.SQLITE_TEXT && v.kind != lib.SQLITE_BLOB) || v.n == 0 {
			continue
		}
		n := copy(buf, libc.GoBytes(at[i], int(v.n)))
		v.s, buf = unsafe.String(&buf[0], n), buf[n:] // never written again
	}
	return vals
}

// start returns query prepared (and kept, if keep) and bound, and what to
// do when done with it: reset it, and finalize it if it is not kept.
func (c *rawConn) start(query string, args []any, keep bool) (*rawStmt, func(), error) {
	var s *rawStmt
	var err error
	if keep {
		s, err = c.prepare(query)
	} else {
		s, err = c.compile(query, 0)
	}
	if err != nil {
		return nil, nil, err
	}
	done := func() {
		lib.Xsqlite3_reset(c.tls, s.p)
		if !keep {
			lib.Xsqlite3_finalize(c.tls, s.p)
		}
	}
	if err := c.bind(s, args, query); err != nil {
		done()
		return nil, nil, err
	}
	return s, done, nil
}

// rowsBetweenChecks is how many rows queryAll reads between two looks at
// its context.
const rowsBetweenChecks = 64

// queryAll runs query and reads every row at once: the statement is done
// with (its read transaction ended) before the caller reads them. It
// stops when ctx ends.
func (c *rawConn) queryAll(ctx context.Context, query string, args []any, keep bool) (sqlstore.Rows, error) {
	s, done, err := c.start(query, args, keep)
	if err != nil {
		return nil, err
	}
	defer done()
	rs := &rows{at: -1}
	for {
		switch rc := lib.Xsqlite3_step(c.tls, s.p); rc {
		case lib.SQLITE_ROW:
			rs.all = append(rs.all, row{vals: c.columns(s)})
			if len(rs.all)%rowsBetweenChecks == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
		case lib.SQLITE_DONE:
			return rs, nil
		default:
			return nil, c.error(rc, query)
		}
	}
}

// maxTextCols is how many columns of a row share one copy.
const maxTextCols = 32

// run steps query, which takes no arguments, to its end, and keeps it
// prepared.
func (c *rawConn) run(query string) error {
	s, err := c.prepare(query)
	if err != nil {
		return err
	}
	defer lib.Xsqlite3_reset(c.tls, s.p)
	return c.steps(s, query)
}

// once runs query, which takes no arguments, without keeping it.
func (c *rawConn) once(query string) error {
	s, err := c.compile(query, 0)
	if err != nil {
		return err
	}
	defer lib.Xsqlite3_finalize(c.tls, s.p)
	return c.steps(s, query)
}

// steps steps s, bound, to its end, ignoring the rows it returns.
func (c *rawConn) steps(s *rawStmt, query string) error {
	for {
		switch rc := lib.Xsqlite3_step(c.tls, s.p); rc {
		case lib.SQLITE_ROW:
		case lib.SQLITE_DONE:
			return nil
		default:
			return c.error(rc, query)
		}
	}
}

// changed reports whether the last read saw a commit that the one before
// it had not (SQLITE_FCNTL_DATA_VERSION, which a new snapshot changes).
func (c *rawConn) changed() bool {
	if lib.Xsqlite3_file_control(c.tls, c.db, 0, lib.SQLITE_FCNTL_DATA_VERSION, c.out) != lib.SQLITE_OK {
		return false
	}
	v := libc.AtomicLoadNUint32(c.out, 0)
	was := c.seen
	c.seen = v
	return v != was
}

func (c *rawConn) bind(s *rawStmt, args []any, query string) error {
	size, copied := 0, false
	for _, a := range s.args {
		if a >= len(args) {
			return fmt.Errorf("sqlite: %.200q wants $%d, given %d arguments", query, a+1, len(args))
		}
		switch v := args[a].(type) {
		case string:
			size += len(v)
		case []byte:
			size += len(v)
		case int64, int, bool, float64, nil:
		default:
			if !copied { // the caller's slice is not ours to change
				args, copied = append([]any(nil), args...), true
			}
			b, err := basic(v)
			if err != nil {
				return fmt.Errorf("sqlite: argument $%d of %.200q: %w", a+1, query, err)
			}
			args[a] = b
			switch b := b.(type) { // a driver.Valuer may give either
			case string:
				size += len(b)
			case []byte:
				size += len(b)
			}
		}
	}
	if size > c.cap {
		if c.arena != 0 {
			libc.Xfree(c.tls, c.arena)
		}
		c.cap = max(size, 256)
		if c.arena = libc.Xmalloc(c.tls, uint64(c.cap)); c.arena == 0 {
			c.cap = 0
			return fmt.Errorf("sqlite: out of memory binding %d bytes", size)
		}
	}
	arena, off := libc.GoBytes(c.arena, c.cap), 0
	for i, a := range s.args {
		idx := int32(i + 1)
		var rc int32
		switch v := args[a].(type) {
		case string:
			copy(arena[off:], v)
			rc = lib.Xsqlite3_bind_text(c.tls, s.p, idx, c.arena+uintptr(off), int32(len(v)), 0)
			off += len(v)
		case []byte:
			if v == nil {
				rc = lib.Xsqlite3_bind_null(c.tls, s.p, idx)
				break
			}
			copy(arena[off:], v)
			rc = lib.Xsqlite3_bind_blob(c.tls, s.p, idx, c.arena+uintptr(off), int32(len(v)), 0)
			off += len(v)
		case int64:
			rc = lib.Xsqlite3_bind_int64(c.tls, s.p, idx, v)
		case int:
			rc = lib.Xsqlite3_bind_int64(c.tls, s.p, idx, int64(v))
		case bool:
			n := int64(0)
			if v {
				n = 1
			}
			rc = lib.Xsqlite3_bind_int64(c.tls, s.p, idx, n)
		case float64:
			rc = lib.Xsqlite3_bind_double(c.tls, s.p, idx, v)
		case nil:
			rc = lib.Xsqlite3_bind_null(c.tls, s.p, idx)
		default:
			return fmt.Errorf("sqlite: argument $%d of %.200q is a %T", a+1, query, v) // basic made it one of the above
		}
		if rc != lib.SQLITE_OK {
			return c.error(rc, query)
		}
	}
	return nil
}

// basic is v as one of the types bind takes, converted as database/sql
// converts an argument: a driver.Valuer's value, or the underlying string,
// integer, boolean or float of a named type (doorway.Mode is a string).
func basic(v any) (any, error) {
	if vr, ok := v.(driver.Valuer); ok {
		b, err := vr.Value()
		if err != nil {
			return nil, err
		}
		if _, ok := b.(driver.Valuer); ok {
			return nil, fmt.Errorf("%T's value is a driver.Valuer too", v)
		}
		return basic(b)
	}
	switch v.(type) {
	case string, []byte, int64, int, bool, float64, nil:
		return v, nil
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.String:
		return r.String(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return r.Int(), nil
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return int64(r.Uint()), nil
	case reflect.Bool:
		return r.Bool(), nil
	case reflect.Float32, reflect.Float64:
		return r.Float(), nil
	}
	return nil, fmt.Errorf("a %T: pass a string, []byte, integer, bool, float or nil", v)
}

// value is one column of a row, as SQLite stored it: 32 bytes.
type value struct {
	kind int32  // lib.SQLITE_INTEGER, _FLOAT, _TEXT, _BLOB or _NULL
	n    int64  // an INTEGER, a FLOAT's bits, or a TEXT's or BLOB's length
	s    string // a TEXT or a BLOB
}

// row is a row read by rowReader, or why there is none.
type row struct {
	vals []value
	err  error
}

// Scan copies the row's columns into dest, converting as database/sql's
// Row.Scan does for the types the store uses: a NULL only into a pointer,
// a sql.Null* or another sql.Scanner.
func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if len(dest) != len(r.vals) {
		return fmt.Errorf("sqlite: scan of %d columns into %d destinations", len(r.vals), len(dest))
	}
	for i, d := range dest {
		if err := assign(d, &r.vals[i]); err != nil {
			return fmt.Errorf("sqlite: column %d: %w", i, err)
		}
	}
	return nil
}

func assign(dest any, v *value) error {
	switch d := dest.(type) {
	case *string:
		if v.kind == lib.SQLITE_TEXT || v.kind == lib.SQLITE_BLOB {
			*d = v.s
			return nil
		}
	case *int64:
		if v.kind == lib.SQLITE_INTEGER {
			*d = v.n
			return nil
		}
	case *[]byte:
		switch v.kind {
		case lib.SQLITE_TEXT, lib.SQLITE_BLOB:
			*d = []byte(v.s) // the caller's to change, as database/sql's copy is
			return nil
		case lib.SQLITE_NULL:
			*d = nil
			return nil
		}
	case sql.Scanner:
		return d.Scan(v.any())
	}
	return assignOther(dest, v)
}

// assignOther is assign's slow path: named types (doorway.Mode is a
// string), other integers, booleans, numbers in text.
func assignOther(dest any, v *value) error {
	p := reflect.ValueOf(dest)
	if p.Kind() != reflect.Pointer || p.IsNil() {
		return fmt.Errorf("destination %T is not a non-nil pointer", dest)
	}
	e := p.Elem()
	if v.kind == lib.SQLITE_NULL {
		if e.Kind() == reflect.Pointer || e.Kind() == reflect.Interface {
			e.Set(reflect.Zero(e.Type()))
			return nil
		}
		return fmt.Errorf("NULL into %T: scan into a pointer or a sql.Null type", dest)
	}
	if e.Kind() == reflect.Interface && e.NumMethod() == 0 {
		e.Set(reflect.ValueOf(v.any()))
		return nil
	}
	if e.Kind() == reflect.Pointer {
		n := reflect.New(e.Type().Elem())
		if err := assignOther(n.Interface(), v); err != nil {
			return err
		}
		e.Set(n)
		return nil
	}
	text := v.s
	switch v.kind {
	case lib.SQLITE_INTEGER:
		text = strconv.FormatInt(v.n, 10)
	case lib.SQLITE_FLOAT:
		text = strconv.FormatFloat(math.Float64frombits(uint64(v.n)), 'g', -1, 64)
	}
	switch e.Kind() {
	case reflect.String:
		e.SetString(text)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(text, 10, e.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q into %T: %w", text, dest, err)
		}
		e.SetInt(n)
		return nil
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("%q into %T: %w", text, dest, err)
		}
		e.SetBool(b)
		return nil
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(text, e.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q into %T: %w", text, dest, err)
		}
		e.SetFloat(f)
		return nil
	}
	return fmt.Errorf("cannot scan %s into %T", kindName(v.kind), dest)
}

// any is the value as database/sql's driver would hand it to a Scanner.
func (v *value) any() any {
	switch v.kind {
	case lib.SQLITE_INTEGER:
		return v.n
	case lib.SQLITE_FLOAT:
		return math.Float64frombits(uint64(v.n))
	case lib.SQLITE_TEXT:
		return v.s
	case lib.SQLITE_BLOB:
		return []byte(v.s)
	}
	return nil
}

func kindName(k int32) string {
	switch k {
	case lib.SQLITE_INTEGER:
		return "an integer"
	case lib.SQLITE_FLOAT:
		return "a float"
	case lib.SQLITE_TEXT:
		return "text"
	case lib.SQLITE_BLOB:
		return "a blob"
	}
	return "NULL"
}

// rows are a query's rows, read (sqlstore.Rows).
type rows struct {
	all []row
	at  int
}

func (r *rows) Next() bool {
	if r.at+1 >= len(r.all) {
		r.at = len(r.all)
		return false
	}
	r.at++
	return true
}

func (r *rows) Scan(dest ...any) error {
	if r.at < 0 || r.at >= len(r.all) {
		return errors.New("sqlite: Scan called without a row (call Next first)")
	}
	return r.all[r.at].Scan(dest...)
}

func (r *rows) Err() error   { return nil }
func (r *rows) Close() error { r.at = len(r.all); return nil }

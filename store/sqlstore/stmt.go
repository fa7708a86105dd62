package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// pool runs statements on one database/sql pool, prepared once per
// connection when the backend asks for it (Dialect.Prepare). SQLite parses
// a statement's text every time it is run unprepared, and for Doorway's
// short queries the parse costs more than the query; PostgreSQL's driver
// keeps its own per-connection cache.
type pool struct {
	*sql.DB
	prepare bool
	rows    RowReader // Dialect.Rows, on the read pool
	stmts   sync.Map  // statement text → *sql.Stmt
}

// stmt returns q prepared on the pool, or nil when the pool does not
// prepare or q cannot be prepared (running it unprepared then reports the
// error).
func (p *pool) stmt(ctx context.Context, q string) *sql.Stmt {
	if !p.prepare {
		return nil
	}
	if s, ok := p.stmts.Load(q); ok {
		return s.(*sql.Stmt)
	}
	s, err := p.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	if prev, loaded := p.stmts.LoadOrStore(q, s); loaded {
		s.Close()
		return prev.(*sql.Stmt)
	}
	return s
}

func (p *pool) QueryRowContext(ctx context.Context, q string, args ...any) Row {
	if p.rows != nil {
		return p.rows.QueryRow(ctx, q, args...)
	}
	if s := p.stmt(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.DB.QueryRowContext(ctx, q, args...)
}

func (p *pool) QueryContext(ctx context.Context, q string, args ...any) (Rows, error) {
	if p.rows != nil {
		return p.rows.Query(ctx, q, args...)
	}
	if s := p.stmt(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.DB.QueryContext(ctx, q, args...)
}

func (p *pool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := p.stmt(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return p.DB.ExecContext(ctx, q, args...)
}

// Conn runs statements: a write transaction's (txn) or a backend's own
// write connection (Dialect.Writer).
type Conn interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, q string, args ...any) Row
	QueryContext(ctx context.Context, q string, args ...any) (Rows, error)
}

// Rows are the rows of a query, read with Next and Scan (*sql.Rows is one).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// txn is a write transaction: Conn runs its statements, prepared once per
// connection, and once those whose text varies (a bulk import's last,
// shorter INSERT), which are not worth keeping prepared.
type txn struct {
	Conn
	once Conn
}

// sqlTx runs a database/sql transaction's statements with the write pool's
// prepared statements (database/sql reuses one already prepared on the
// transaction's connection). A statement not prepared yet runs unprepared
// and is prepared after the transaction: preparing it on the pool now
// would wait for the connection the transaction holds.
type sqlTx struct {
	tx      *sql.Tx
	p       *pool
	prepare bool
	missed  *[]string
	// shared, if not nil, is the context every statement runs with,
	// whatever context its caller passes: the transaction's, and in one
	// that group commit shares, one that is never cancelled (see
	// batch.go).
	shared context.Context
}

// newTxn is tx as a txn on p.
func newTxn(tx *sql.Tx, p *pool, missed *[]string, shared context.Context) txn {
	t := sqlTx{tx, p, p.prepare, missed, shared}
	once := t
	once.prepare = false
	return txn{t, once}
}

// ctx is the context a statement runs with.
func (t sqlTx) ctx(ctx context.Context) context.Context {
	if t.shared != nil {
		return t.shared
	}
	return ctx
}

func (t sqlTx) prepared(ctx context.Context, q string) *sql.Stmt {
	if !t.prepare {
		return nil
	}
	if s, ok := t.p.stmts.Load(q); ok {
		return t.tx.StmtContext(ctx, s.(*sql.Stmt))
	}
	*t.missed = append(*t.missed, q)
	return nil
}

func (t sqlTx) QueryRowContext(ctx context.Context, q string, args ...any) Row {
	ctx = t.ctx(ctx)
	if s := t.prepared(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

func (t sqlTx) QueryContext(ctx context.Context, q string, args ...any) (Rows, error) {
	ctx = t.ctx(ctx)
	if s := t.prepared(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

func (t sqlTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = t.ctx(ctx)
	if s := t.prepared(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

// Writer is a backend's own write connection (Dialect.Writer), used by one
// goroutine at a time: its transaction is begun, its statements run and it
// is committed or rolled back through these methods.
type Writer interface {
	Conn
	// Once is the same connection for statements whose text varies, which
	// it does not keep prepared.
	Once() Conn
	Begin() error
	Commit() error
	// Rollback ends the transaction, if there still is one.
	Rollback() error
	Close() error
}

// writeTx is a write transaction begun on the write pool or the Writer.
type writeTx struct {
	db     *DB
	tx     *sql.Tx // nil on the Writer
	missed []string
}

// begin begins a write transaction; ctx is database/sql's for BeginTx.
func (db *DB) begin(ctx context.Context) (*writeTx, error) {
	if w := db.d.Writer; w != nil {
		if err := w.Begin(); err != nil {
			w.Rollback()
			return nil, err
		}
		return &writeTx{db: db}, nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &writeTx{db: db, tx: tx}, nil
}

// txn is the transaction's statements; shared is the context every
// database/sql statement runs with (see sqlTx).
func (t *writeTx) txn(shared context.Context) txn {
	if t.tx == nil {
		return txn{t.db.d.Writer, t.db.d.Writer.Once()}
	}
	return newTxn(t.tx, t.db.w, &t.missed, shared)
}

func (t *writeTx) commit() error {
	if t.tx == nil {
		return t.db.d.Writer.Commit()
	}
	return t.tx.Commit()
}

// end rolls back whatever is left of the transaction (nothing, after a
// commit) and prepares the statements it ran unprepared.
func (t *writeTx) end() {
	if t.tx == nil {
		t.db.d.Writer.Rollback()
		return
	}
	t.tx.Rollback()
	for _, q := range t.missed {
		t.db.w.stmt(context.Background(), q)
	}
}

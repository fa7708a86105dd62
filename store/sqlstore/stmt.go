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

func (p *pool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
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

// txn is a write transaction that uses the write pool's prepared
// statements (database/sql reuses one already prepared on the
// transaction's connection). A statement not prepared yet runs unprepared
// and is prepared after the transaction: preparing it on the pool now
// would wait for the connection the transaction holds.
type txn struct {
	*sql.Tx
	p      *pool
	missed *[]string
	// shared, in a transaction that group commit shares, is the context
	// every statement runs with, whatever context its caller passes: one
	// that is never cancelled (see batch.go).
	shared context.Context
}

// ctx is the context a statement runs with.
func (t txn) ctx(ctx context.Context) context.Context {
	if t.shared != nil {
		return t.shared
	}
	return ctx
}

func (t txn) prepared(ctx context.Context, q string) *sql.Stmt {
	if !t.p.prepare {
		return nil
	}
	if s, ok := t.p.stmts.Load(q); ok {
		return t.StmtContext(ctx, s.(*sql.Stmt))
	}
	*t.missed = append(*t.missed, q)
	return nil
}

func (t txn) QueryRowContext(ctx context.Context, q string, args ...any) Row {
	ctx = t.ctx(ctx)
	if s := t.prepared(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, q, args...)
}

func (t txn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = t.ctx(ctx)
	if s := t.prepared(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, q, args...)
}

func (t txn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = t.ctx(ctx)
	if s := t.prepared(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

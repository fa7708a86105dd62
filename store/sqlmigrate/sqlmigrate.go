// Package sqlmigrate applies a backend's embedded, numbered, forward-only SQL
// migrations. It is small on purpose: files named NNNN_name.sql are applied in
// order, each in its own transaction together with its row in
// schema_migrations, so a crash leaves either the whole migration or none.
// A database that knows a migration this binary does not is refused, so an
// old node never runs against a schema it does not understand.
package sqlmigrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migration is one file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the *.sql files in dir of fsys.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_' (0001_init.sql)", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s have the same number", ms[i-1].Name, ms[i].Name)
		}
	}
	return ms, nil
}

// Options are what a backend adds to running its migrations.
type Options struct {
	// Lock, if not empty, is run first in each transaction to keep
	// concurrent nodes from migrating at once (PostgreSQL: an advisory
	// lock); SQLite's single writer needs none.
	Lock string
	// Check, if set, runs after each migration in its transaction; an
	// error undoes the migration (SQLite: the foreign keys a table rebuild
	// could break, checked because the rebuild runs with them off).
	Check func(ctx context.Context, tx *sql.Tx) error
	// Now stamps applied_at; nil is time.Now.
	Now func() time.Time
	// Starting, if set, is told the name of each migration this database
	// has not seen, just before it runs: a rebuild of a large table takes
	// a while (tens of seconds for a million installations), and whoever
	// waits for it should know what they are waiting for.
	Starting func(name string)
}

// Up applies the migrations db has not seen and returns their names.
func Up(ctx context.Context, db *sql.DB, ms []Migration, o Options) ([]string, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	// Under the lock too: two PostgreSQL nodes creating the table at once
	// would otherwise collide in the catalog.
	if err := locked(ctx, db, o.Lock, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`)
		return err
	}); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	var applied []string
	for _, m := range ms {
		done, err := apply(ctx, db, m, o)
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if done {
			applied = append(applied, m.Name)
		}
	}
	var newest int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return applied, err
	}
	if len(ms) > 0 && newest > ms[len(ms)-1].Version {
		return applied, fmt.Errorf("the database has schema version %d, newer than this binary knows (%d): upgrade doorway", newest, ms[len(ms)-1].Version)
	}
	return applied, nil
}

// locked runs fn in a transaction that first runs lock.
func locked(ctx context.Context, db *sql.DB, lock string, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if lock != "" {
		if _, err := tx.ExecContext(ctx, lock); err != nil {
			return err
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func apply(ctx context.Context, db *sql.DB, m Migration, o Options) (bool, error) {
	done := false
	err := locked(ctx, db, o.Lock, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if o.Starting != nil {
			o.Starting(m.Name)
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return err
		}
		if o.Check != nil {
			if err := o.Check(ctx, tx); err != nil {
				return err
			}
		}
		done = true
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.Version, m.Name, o.Now().UTC().Format(time.RFC3339))
		return err
	})
	return done && err == nil, err
}

package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/store"
)

// importBatch rows go in one INSERT.
const importBatch = 50

// ImportInstallations writes installations, their install grants and the
// optional events in one transaction, many rows per statement.
func (db *DB) ImportInstallations(ctx context.Context, items []store.Import) error {
	return db.bigTx(ctx, func(tx txn) error {
		if err := importedRefer(ctx, tx, items, db.d.Anonymous); err != nil {
			return err
		}
		for start := 0; start < len(items); start += importBatch {
			batch := items[start:min(start+importBatch, len(items))]
			if err := importRows(ctx, tx, batch, db.d.Anonymous, db.d.InstallationKeys); err != nil {
				return db.conflict(err, "import installations")
			}
		}
		return nil
	})
}

// importedRefer checks that the apps, versions and tenants the items name
// exist. The database does not check these references on PostgreSQL
// (migration 0007_hot_references), so the import does, the same way on
// every backend, and names what is missing.
func importedRefer(ctx context.Context, tx txn, items []store.Import, anonymous bool) error {
	refs := []struct {
		table string
		of    func(doorway.Installation) string
	}{
		{"apps", func(i doorway.Installation) string { return i.AppID }},
		{"app_versions", func(i doorway.Installation) string { return i.VersionID }},
		{"tenants", func(i doorway.Installation) string { return i.TenantID }},
	}
	for _, ref := range refs {
		seen := map[string]bool{}
		var ids []string
		for _, it := range items {
			if id := ref.of(it.Installation); !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		const chunkSize = 500
		for start := 0; start < len(ids); start += chunkSize {
			chunk := ids[start:min(start+chunkSize, len(ids))]
			var in strings.Builder
			args := make([]any, len(chunk))
			for k, id := range chunk {
				if k > 0 {
					in.WriteString(", ")
				}
				if anonymous {
					in.WriteByte('?')
				} else {
					fmt.Fprintf(&in, "$%d", k+1)
				}
				args[k] = id
			}
			found, err := tx.once.QueryContext(ctx, `SELECT id FROM `+ref.table+` WHERE id IN (`+in.String()+`)`, args...)
			if err != nil {
				return err
			}
			exists := map[string]bool{}
			for found.Next() {
				var id string
				if err := found.Scan(&id); err != nil {
					found.Close()
					return err
				}
				exists[id] = true
			}
			found.Close()
			if err := found.Err(); err != nil {
				return err
			}
			for _, id := range chunk {
				if !exists[id] {
					return fmt.Errorf("import installations: %s has no row %q: %w", ref.table, id, store.ErrNotFound)
				}
			}
		}
	}
	return nil
}

func importRows(ctx context.Context, tx txn, batch []store.Import, anonymous, keyed bool) error {
	insts, grants, events := rows{anonymous: anonymous}, rows{anonymous: anonymous}, rows{anonymous: anonymous}
	var keys []int64
	if keyed {
		var err error
		if keys, err = importKeys(ctx, tx, batch, anonymous); err != nil {
			return err
		}
	}
	for n, it := range batch {
		i := it.Installation
		seq := 0
		if it.EventID != "" {
			seq = 1
		}
		perms := list(i.Permissions)
		vals := []any{i.ID, i.AppID, i.TenantID, i.Mode, i.Status, i.VersionID, perms, i.InstalledBy, seq,
			ms(i.CreatedAt), ms(i.UpdatedAt), i.GrantID}
		if keyed {
			vals = append(vals, keys[n])
		}
		insts.add(vals...)
		grants.add(i.GrantID, doorway.GrantInstall, i.AppID, i.ID, perms, false, ms(i.UpdatedAt), nil)
		if it.EventID != "" {
			events.add(it.EventID, doorway.EventInstalled, i.AppID, i.ID, i.TenantID, i.InstalledBy, i.Mode,
				perms, 1, "", ms(i.UpdatedAt), ms(i.UpdatedAt))
		}
	}
	keyCol := ""
	if keyed {
		keyCol = ", id_key"
	}
	// Installations first: grants and events reference them.
	for _, s := range []struct {
		head string
		r    *rows
	}{
		{`INSERT INTO installations (` + installationCols + keyCol + `) VALUES `, &insts},
		{`INSERT INTO grants (` + grantCols + `) VALUES `, &grants},
		{`INSERT INTO events (id, type, app_id, installation_id, tenant_id, user_id, mode, permissions, sequence, state,
			created_at, next_attempt_at) VALUES `, &events},
	} {
		if len(s.r.args) == 0 {
			continue
		}
		// Full batches share one text, prepared once; a last, shorter
		// one runs unprepared.
		exec := tx.ExecContext
		if len(batch) < importBatch {
			exec = tx.once.ExecContext
		}
		if _, err := exec(ctx, s.head+s.r.values.String(), s.r.args...); err != nil {
			return err
		}
	}
	return nil
}

// importKeys returns the key each installation of batch is written under
// (Dialect.InstallationKeys): its first, unless a row in the table or one
// before it in batch has that, then its second.
func importKeys(ctx context.Context, tx txn, batch []store.Import, anonymous bool) ([]int64, error) {
	keys := make([]int64, len(batch))
	var in rows
	in.anonymous = anonymous
	firsts := make([]any, len(batch))
	for n, it := range batch {
		first := firstKey(it.Installation.ID)
		keys[n], firsts[n] = first, first
	}
	in.add(firsts...)
	found, err := tx.once.QueryContext(ctx, `SELECT id_key FROM installations WHERE id_key IN `+in.values.String(), in.args...)
	if err != nil {
		return nil, err
	}
	taken := map[int64]bool{}
	for found.Next() {
		var k int64
		if err := found.Scan(&k); err != nil {
			found.Close()
			return nil, err
		}
		taken[k] = true
	}
	found.Close()
	if err := found.Err(); err != nil {
		return nil, err
	}
	for n, it := range batch {
		if taken[keys[n]] {
			keys[n] = secondKey(it.Installation.ID)
		}
		taken[keys[n]] = true
	}
	return keys, nil
}

// rows builds the VALUES list of a multi-row INSERT, with $N parameters
// or, when anonymous, ? ones.
type rows struct {
	values    strings.Builder
	args      []any
	anonymous bool
}

func (r *rows) add(vals ...any) {
	if len(r.args) > 0 {
		r.values.WriteString(", ")
	}
	r.values.WriteByte('(')
	for i, v := range vals {
		if i > 0 {
			r.values.WriteString(", ")
		}
		r.args = append(r.args, v)
		if r.anonymous {
			r.values.WriteByte('?')
		} else {
			fmt.Fprintf(&r.values, "$%d", len(r.args))
		}
	}
	r.values.WriteByte(')')
}

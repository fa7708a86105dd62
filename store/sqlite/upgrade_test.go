package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/doorwayhq/doorway/store/sqlmigrate"
	"github.com/doorwayhq/doorway/store/sqlstore"
)

// TestRebuiltTablesKeepTheirRows upgrades a database written by the schema
// before 0006_without_rowid (every table that migration rebuilds holds a
// row) and checks that every row, value for value, and every reference
// between them survive, and that the rebuilt tables are WITHOUT ROWID; and
// that 0007_grant_revoked copies a revoked install grant's time, and its
// triggers outlive 0008's rebuild of installations.
func TestRebuiltTablesKeepTheirRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "doorway.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	all, err := sqlmigrate.Load(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	before := slices.IndexFunc(all, func(m sqlmigrate.Migration) bool { return m.Name == "0006_without_rowid.sql" })
	if before < 0 {
		t.Fatal("0006_without_rowid.sql not found")
	}
	if _, err := sqlmigrate.Up(ctx, db, all[:before], sqlmigrate.Options{}); err != nil {
		t.Fatal(err)
	}
	rows := []string{
		`INSERT INTO users VALUES ('usr_1', 'ada@example.com', 'phc', 1)`,
		`INSERT INTO tenants VALUES ('ten_1', 'Ada''s shop', 2)`,
		`INSERT INTO memberships VALUES ('ten_1', 'usr_1', 'owner', 3)`,
		`INSERT INTO sessions VALUES ('sesshash', 'usr_1', 4, 5)`,
		`INSERT INTO apps VALUES ('app_1', 'ver_1', '', 6)`,
		`INSERT INTO app_versions VALUES ('ver_1', 'app_1', '1.0.0', '{}', 7)`,
		`INSERT INTO install_requests VALUES ('req_1', 'oauth2', 'app_1', 'ver_1', 'live', 'https://app.example/cb', 's',
			1, 'browser', 'usr_1', 'ten_1', 8, 9, 'approved', 10, 'challenge', '["a","b"]')`,
		`INSERT INTO installations VALUES ('ins_1', 'app_1', 'ten_1', 'live', 'active', 'ver_1', '["a"]', 'usr_1', 2, 11, 12, 'gr_1')`,
		`INSERT INTO grants VALUES ('gr_1', 'install', 'app_1', 'ins_1', '["a"]', 1, 13, NULL)`,
		`INSERT INTO tenants VALUES ('ten_2', 'Bob''s shop', 22)`,
		`INSERT INTO installations VALUES ('ins_2', 'app_1', 'ten_2', 'live', 'active', 'ver_1', '["a"]', 'usr_1', 1, 23, 24, 'gr_2')`,
		`INSERT INTO grants VALUES ('gr_2', 'install', 'app_1', 'ins_2', '["a"]', 0, 25, 26)`,
		// Two ids of one millisecond whose first 13 random bits match: they
		// share a first key (0009), so the second is kept under its second.
		`INSERT INTO tenants VALUES ('ten_3', 'Cy''s shop', 27)`,
		`INSERT INTO tenants VALUES ('ten_4', 'Di''s shop', 28)`,
		`INSERT INTO installations VALUES ('` + sameOrder[0] + `', 'app_1', 'ten_3', 'live', 'active', 'ver_1', '["a"]', 'usr_1', 1, 29, 29, 'gr_3')`,
		`INSERT INTO installations VALUES ('` + sameOrder[1] + `', 'app_1', 'ten_4', 'live', 'active', 'ver_1', '["a"]', 'usr_1', 1, 30, 30, 'gr_4')`,
		`INSERT INTO auth_codes VALUES ('codehash', 'oauth2', 'app_1', 'ins_1', 'https://app.example/cb', 'challenge', '["a"]', 14, 15, 16, 'gr_1')`,
		`INSERT INTO refresh_tokens VALUES ('refreshhash', 'gr_1', 17, NULL)`,
		`INSERT INTO install_tokens VALUES ('tokenhash', 'app_1', 'test', 18, 19, NULL)`,
		`INSERT INTO webhook_disabled VALUES ('app_1', 'https://app.example/hooks', 20)`,
		`INSERT INTO rate_limits VALUES ('token:app_1', 21)`,
	}
	for _, q := range rows {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tables := []string{"users", "tenants", "memberships", "sessions", "install_requests", "installations",
		"grants", "auth_codes", "refresh_tokens", "install_tokens", "webhook_disabled", "rate_limits"}
	want := dump(t, db, tables)
	// 0007_grant_revoked copies each install grant's revocation to its
	// installation.
	for i, line := range want {
		switch {
		case strings.HasPrefix(line, "installations id=ins_2 "):
			want[i] += " grant_revoked_at=26"
		case strings.HasPrefix(line, "installations "):
			want[i] += " grant_revoked_at=<nil>"
		}
	}

	// The upgrade as doorway runs it: Open migrates.
	upgraded, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 0009 keeps installations under their first key, or their second
	// when an installation copied before took the first, and the store
	// finds each by id.
	for _, id := range []string{"ins_1", "ins_2", sameOrder[0], sameOrder[1]} {
		first, second := sqlstore.InstallationKeys(id)
		want := first
		if id == sameOrder[1] {
			want = second
		}
		var key int64
		if err := db.QueryRowContext(ctx, `SELECT id_key FROM installations WHERE id = $1`, id).Scan(&key); err != nil || key != want {
			t.Errorf("installation %s kept under key %d (err %v), want %d (first %d, second %d)", id, key, err, want, first, second)
		}
		if i, err := upgraded.Installation(ctx, id); err != nil || i.ID != id {
			t.Errorf("Installation(%s) after the upgrade: %+v, %v", id, i, err)
		}
	}
	// During a rolling upgrade a node still on the older binary writes
	// installations without a key (its INSERT names no id_key, so SQLite
	// picks one); the upgraded store finds them by id all the same.
	older := "ins_" + strings.Repeat("d", 26)
	if _, err := db.ExecContext(ctx, `INSERT INTO installations (id, app_id, tenant_id, mode, status, version_id, permissions,
		installed_by, event_seq, created_at, updated_at, grant_id) VALUES ($1, 'app_1', 'ten_3', 'test', 'active', 'ver_1', '["a"]', 'usr_1', 1, 31, 31, 'gr_5')`, older); err != nil {
		t.Fatal(err)
	}
	if i, err := upgraded.Installation(ctx, older); err != nil || i.ID != older || i.TenantID != "ten_3" {
		t.Errorf("Installation(%s), written without a key: %+v, %v", older, i, err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM installations WHERE id = $1`, older); err != nil {
		t.Fatal(err)
	}
	upgraded.Close()
	var version int
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil || version != all[len(all)-1].Version {
		t.Fatalf("schema version %d (err %v) after Open, want %d", version, err, all[len(all)-1].Version)
	}
	if got := dump(t, db, tables); !slices.Equal(got, want) {
		t.Errorf("rows changed by the upgrade:\n got %v\nwant %v", got, want)
	}
	// The grants' triggers survive the rebuild of installations (0008).
	var revoked sql.NullInt64
	if _, err := db.ExecContext(ctx, `UPDATE grants SET revoked_at = 30 WHERE id = 'gr_1'`); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT grant_revoked_at FROM installations WHERE id = 'ins_1'`).Scan(&revoked); err != nil || revoked.Int64 != 30 {
		t.Errorf("after revoking its grant, installation ins_1's grant_revoked_at = %v (err %v), want 30", revoked, err)
	}
	var problems []string
	fk, err := db.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	for fk.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var n int
		if err := fk.Scan(&table, &rowid, &parent, &n); err != nil {
			t.Fatal(err)
		}
		problems = append(problems, table+" → "+parent)
	}
	fk.Close()
	if len(problems) > 0 {
		t.Errorf("foreign keys broken by the upgrade: %v", problems)
	}
	for _, table := range tables {
		var ddl string
		if err := db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1`, table).Scan(&ddl); err != nil {
			t.Fatalf("table %s after the upgrade: %v", table, err)
		}
		// installations is a rowid table again since 0009, keyed by id_key.
		if rowid := table == "installations"; strings.HasSuffix(ddl, "WITHOUT ROWID") == rowid {
			t.Errorf("table %s: WITHOUT ROWID is %v, want %v: %s", table, !rowid, rowid, ddl)
		}
	}
	// Foreign keys are enforced by the rebuilt tables: a membership of a
	// user who does not exist is refused.
	if _, err := db.ExecContext(ctx, `INSERT INTO memberships VALUES ('ten_1', 'usr_nobody', 'owner', 22)`); err == nil ||
		!strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Errorf("membership of a missing user: err %v, want a foreign key violation", err)
	}
}

// migrated is a new database with every migration applied, closed when
// the test ends.
func migrated(t *testing.T) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "doorway.db")
	if _, err := Migrate(context.Background(), path, nil); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestMigrationThatBreaksAReferenceIsUndone: migrations run with foreign
// keys off (a table rebuild needs it), so the check after each one is what
// stops a migration that leaves a row pointing nowhere.
func TestMigrationThatBreaksAReferenceIsUndone(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	db.SetMaxOpenConns(1)
	bad := sqlmigrate.Migration{Version: 9999, Name: "9999_bad.sql",
		SQL: `INSERT INTO sessions (hash, user_id, created_at, expires_at) VALUES ('h', 'usr_missing', 1, 2)`}
	_, err := sqlmigrate.Up(ctx, db, []sqlmigrate.Migration{bad}, sqlmigrate.Options{Check: foreignKeyCheck})
	if err == nil || !strings.Contains(err.Error(), "9999_bad.sql") || !strings.Contains(err.Error(), "sessions refers to a row of users") {
		t.Fatalf("err %v, want the migration named and the broken reference (sessions → users)", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM schema_migrations WHERE version = 9999)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows of the failed migration left (err %v), want none", n, err)
	}
}

// dump returns every row of tables as text, in key order.
func dump(t *testing.T, db *sql.DB, tables []string) []string {
	t.Helper()
	var out []string
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM ` + table + ` ORDER BY 1, 2`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			line := table
			for i, c := range cols {
				if table == "installations" && c == "id_key" {
					continue // added by 0009; the test checks it apart
				}
				line += fmt.Sprintf(" %s=%v", c, vals[i])
			}
			out = append(out, line)
		}
		rows.Close()
	}
	slices.Sort(out) // ORDER BY 1 is id_key, not id, for installations since 0009
	return out
}

// sameOrder are two ids made in the same millisecond whose first 13 random
// bits are the same, in id order.
var sameOrder = [2]string{"ins_2222222222aaa" + strings.Repeat("b", 13), "ins_2222222222aaa" + strings.Repeat("c", 13)}

// TestInstallationPlans: an app's installations are paged through
// installations_app in id order, not read and sorted whole (0008); the
// tenant's listing and an (app, tenant, mode) lookup use the unique key,
// which starts with the tenant; a read by key walks the table alone and
// one by id the unique index on id (0009).
func TestInstallationPlans(t *testing.T) {
	ctx := context.Background()
	db := migrated(t)
	plans := []struct {
		name, query string
		args        []any
		want        string
	}{
		{"an app's page", sqlstore.AppInstallationsPage, []any{"app_1", "", 100},
			"USING INDEX installations_app (app_id=? AND id>?)"},
		{"a tenant's listing", `SELECT id FROM installations WHERE tenant_id = $1 AND status <> 'uninstalled'`, []any{"ten_1"},
			"USING INDEX sqlite_autoindex_installations_2 (tenant_id=?)"},
		{"an app in a tenant", `SELECT id FROM installations WHERE app_id = $1 AND tenant_id = $2 AND mode = $3`, []any{"app_1", "ten_1", "live"},
			"USING INDEX sqlite_autoindex_installations_2 (tenant_id=? AND app_id=? AND mode=?)"},
		{"an installation by key (an access token's read)", `SELECT id, app_id FROM installations WHERE id_key = $1 AND id = $2`, []any{1, "ins_1"},
			"USING INTEGER PRIMARY KEY (rowid=?)"},
		{"an installation by id", `SELECT id, app_id FROM installations WHERE id = $1`, []any{"ins_1"},
			"USING INDEX sqlite_autoindex_installations_1 (id=?)"},
	}
	for _, p := range plans {
		rows, err := db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+p.query, p.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, p.want) || strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("%s: plan\n%s\nwant %q and no sort", p.name, text, p.want)
		}
	}
}

package postgres

import (
	"context"
	"database/sql"
	"slices"
	"testing"

	"github.com/doorwayhq/doorway/internal/pgtest"
	"github.com/doorwayhq/doorway/store/sqlmigrate"
)

// TestGrantRevokedIsCopiedOnUpgrade: 0006_grant_revoked copies the
// revocation of each installation's grant into the installation, for
// databases that had revoked grants before it, and leaves the others NULL.
func TestGrantRevokedIsCopiedOnUpgrade(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, err := sqlmigrate.Load(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	before := slices.IndexFunc(all, func(m sqlmigrate.Migration) bool { return m.Name == "0006_grant_revoked.sql" })
	if before < 0 {
		t.Fatal("0006_grant_revoked.sql not found")
	}
	if _, err := sqlmigrate.Up(ctx, db, all[:before], sqlmigrate.Options{Lock: lock}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO users VALUES ('usr_1', 'ada@example.com', 'phc', 1)`,
		`INSERT INTO tenants VALUES ('ten_1', 'Ada', 2), ('ten_2', 'Bob', 3)`,
		`INSERT INTO apps VALUES ('app_1', 'ver_1', '', 4)`,
		`INSERT INTO installations (id, app_id, tenant_id, mode, status, version_id, permissions, installed_by, event_seq, created_at, updated_at, grant_id)
			VALUES ('ins_1', 'app_1', 'ten_1', 'live', 'active', 'ver_1', '["a"]', 'usr_1', 1, 6, 6, 'gr_1'),
			       ('ins_2', 'app_1', 'ten_2', 'live', 'active', 'ver_1', '["a"]', 'usr_1', 1, 7, 7, 'gr_2')`,
		`INSERT INTO grants VALUES ('gr_1', 'install', 'app_1', 'ins_1', '["a"]', false, 8, NULL),
			('gr_2', 'install', 'app_1', 'ins_2', '["a"]', false, 9, 10)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var ran []string
	if _, err := migrate(ctx, db, func(name string) { ran = append(ran, name) }); err != nil {
		t.Fatal(err)
	}
	var pending []string
	for _, m := range all[before:] {
		pending = append(pending, m.Name)
	}
	if !slices.Equal(ran, pending) {
		t.Fatalf("migrate said it was starting %v; want the pending migrations %v, in order", ran, pending)
	}
	got := map[string]sql.NullInt64{}
	rows, err := db.QueryContext(ctx, `SELECT id, grant_revoked_at FROM installations`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var at sql.NullInt64
		if err := rows.Scan(&id, &at); err != nil {
			t.Fatal(err)
		}
		got[id] = at
	}
	rows.Close()
	if got["ins_1"].Valid || !got["ins_2"].Valid || got["ins_2"].Int64 != 10 {
		t.Fatalf("after the upgrade grant_revoked_at = %v, want ins_1 NULL and ins_2 10", got)
	}
}

package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/store"
)

// list stores a string list as JSON text; nullList stores nil as NULL.
func list(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func nullList(l []string) any {
	if l == nil {
		return nil
	}
	return list(l)
}

func parseList(s, what string) ([]string, error) {
	// What list wrote, ["a","b"], splits on "," unless a string holds an
	// escape; anything else goes to the JSON decoder.
	if s == "[]" {
		return []string{}, nil
	}
	if inner, ok := strings.CutPrefix(s, `["`); ok && strings.HasSuffix(inner, `"]`) && !strings.Contains(s, `\`) {
		l := strings.Split(inner[:len(inner)-2], `","`)
		if !slices.ContainsFunc(l, func(e string) bool { return strings.Contains(e, `"`) }) {
			return l, nil
		}
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("%s: stored list: %w", what, err)
	}
	return l, nil
}

func insertEvent(ctx context.Context, tx txn, id, typ string, inst *doorway.Installation, userID string, seq int64, state string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO events (id, type, app_id, installation_id, tenant_id, user_id, mode,
		permissions, sequence, state, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		id, typ, inst.AppID, inst.ID, inst.TenantID, userID, inst.Mode, list(inst.Permissions), seq, state, ms(now), ms(now))
	return err
}

// AppInstallationsPage is the statement of Installations: a page of an
// app's installations in id order, which installations_app (app_id, id)
// gives without reading or sorting the rest of them (migrations 0008).
const AppInstallationsPage = `SELECT ` + installationRead + ` FROM installations
		WHERE app_id = $1 AND id > $2 ORDER BY id LIMIT $3`

func (db *DB) Installations(ctx context.Context, appID, after string, limit int) ([]doorway.Installation, error) {
	return db.installations(ctx, AppInstallationsPage, appID, after, limit)
}

func (db *DB) TenantInstallations(ctx context.Context, tenantID string) ([]doorway.Installation, error) {
	return db.installations(ctx, `SELECT `+installationRead+` FROM installations
		WHERE tenant_id = $1 AND status <> 'uninstalled' ORDER BY created_at, id`, tenantID)
}

func (db *DB) installations(ctx context.Context, query string, args ...any) ([]doorway.Installation, error) {
	rows, err := db.r.QueryContext(ctx, query, args...)
	return collect(rows, err, func(r Row) (*doorway.Installation, error) {
		i, _, err := scanInstallation(r)
		return i, err
	})
}

// transition moves an installation from one of the statuses in from to
// status to and writes its event, in one transaction.
func (db *DB) transition(ctx context.Context, id, to, where, eventType, userID, eventID string, now time.Time, also func(txn) error) (*doorway.Installation, error) {
	var inst *doorway.Installation
	err := db.tx(ctx, func(tx txn) error {
		var seq int64
		var err error
		inst, seq, err = scanInstallation(tx.QueryRowContext(ctx, `UPDATE installations
			SET status = $1, event_seq = event_seq + 1, updated_at = $2
			WHERE id = $3 AND `+where+` RETURNING `+installationRead, to, ms(now), id))
		if errors.Is(err, sql.ErrNoRows) {
			var status string
			if err := tx.QueryRowContext(ctx, `SELECT status FROM installations WHERE id = $1`, id).Scan(&status); err != nil {
				return db.notFound(err, "installation", id)
			}
			return fmt.Errorf("installation %s is %s: %w", id, status, store.ErrConflict)
		}
		if err != nil {
			return err
		}
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		return insertEvent(ctx, tx, eventID, eventType, inst, userID, seq, "", now)
	})
	return inst, err
}

func (db *DB) CompleteSetup(ctx context.Context, id, eventID string, now time.Time) (*doorway.Installation, error) {
	inst, err := db.transition(ctx, id, string(doorway.Active), `status = 'setup_incomplete'`,
		doorway.EventSetupCompleted, "", eventID, now, nil)
	if errors.Is(err, store.ErrConflict) {
		cur, cerr := db.Installation(ctx, id)
		if cerr == nil && cur.Status == doorway.Active {
			return cur, nil
		}
	}
	return inst, err
}

func (db *DB) Uninstall(ctx context.Context, id, userID, eventID string, now time.Time) (*doorway.Installation, error) {
	return db.transition(ctx, id, string(doorway.Uninstalled), `status <> 'uninstalled'`,
		doorway.EventUninstalled, userID, eventID, now, func(tx txn) error {
			_, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = $1 WHERE installation_id = $2 AND revoked_at IS NULL`, ms(now), id)
			return err
		})
}

func (db *DB) AppSecretByHash(ctx context.Context, hash string) (*doorway.AppSecret, error) {
	var s doorway.AppSecret
	var created int64
	var expires sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT id, app_id, kind, hash, sealed, created_at, expires_at
		FROM app_secrets WHERE hash = $1 AND hash <> ''`, hash).
		Scan(&s.ID, &s.AppID, &s.Kind, &s.Hash, &s.Sealed, &created, &expires)
	if err != nil {
		return nil, db.notFound(err, "app secret", "…")
	}
	s.CreatedAt, s.ExpiresAt = fromMS(created), fromNullMS(expires)
	return &s, nil
}

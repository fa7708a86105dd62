package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/store"
)

func insertGrant(ctx context.Context, tx txn, g *doorway.Grant) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO grants (`+grantCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, g.ID, g.Kind, g.AppID, g.InstallationID, list(g.Scope), g.Rotate,
		ms(g.CreatedAt), nullMS(g.RevokedAt))
	return err
}

func insertRefresh(ctx context.Context, tx txn, rt *doorway.RefreshToken) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, grant_id, created_at) VALUES ($1, $2, $3)`,
		rt.Hash, rt.GrantID, ms(rt.CreatedAt))
	return err
}

func (db *DB) CreateGrant(ctx context.Context, g *doorway.Grant) error {
	return db.tx(ctx, func(tx txn) error { return insertGrant(ctx, tx, g) })
}

const grantCols = `id, kind, app_id, installation_id, scope, rotate, created_at, revoked_at`

// grantRow is where a row of grantCols is scanned.
type grantRow struct {
	g       doorway.Grant
	scope   string
	created int64
	revoked sql.NullInt64
}

func (r *grantRow) dest() []any {
	g := &r.g
	return []any{&g.ID, &g.Kind, &g.AppID, &g.InstallationID, &r.scope, &g.Rotate, &r.created, &r.revoked}
}

func (r *grantRow) value() (*doorway.Grant, error) {
	var err error
	r.g.Scope, err = parseList(r.scope, "grant "+r.g.ID)
	r.g.CreatedAt, r.g.RevokedAt = fromMS(r.created), fromNullMS(r.revoked)
	return &r.g, err
}

func scanGrant(row scanner) (*doorway.Grant, error) {
	var r grantRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.value()
}

func (db *DB) Grant(ctx context.Context, id string) (*doorway.Grant, error) {
	g, err := scanGrant(db.r.QueryRowContext(ctx, `SELECT `+grantCols+` FROM grants WHERE id = $1`, id))
	return g, db.notFound(err, "grant", id)
}

// both scans one row of the lead columns, if any, then installationRead
// then grantCols, each prefixed with its table's alias (i, g).
func both(row *sql.Row, lead ...any) (*doorway.Installation, *doorway.Grant, error) {
	var ir installationRow
	var gr grantRow
	if err := row.Scan(append(append(lead, ir.dest()...), gr.dest()...)...); err != nil {
		return nil, nil, err
	}
	i, _, err := ir.value()
	if err != nil {
		return nil, nil, err
	}
	g, err := gr.value()
	return i, g, err
}

var (
	installationColsI = prefixed("i.", installationRead)
	grantColsG        = prefixed("g.", grantCols)
)

func prefixed(alias, cols string) string {
	return alias + strings.ReplaceAll(cols, ", ", ", "+alias)
}

func (db *DB) GrantInstallation(ctx context.Context, grantID string) (*doorway.Grant, *doorway.Installation, error) {
	i, g, err := both(db.r.QueryRowContext(ctx, `SELECT `+installationColsI+`, `+grantColsG+`
		FROM grants g JOIN installations i ON i.id = g.installation_id WHERE g.id = $1`, grantID))
	return g, i, db.notFound(err, "grant with its installation", grantID)
}

func (db *DB) RevokeGrant(ctx context.Context, id string, now time.Time) error {
	_, err := db.exec(ctx, `UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, ms(now), id)
	return err
}

func (db *DB) AuthCode(ctx context.Context, hash string) (*doorway.AuthCode, *doorway.Installation, error) {
	var c doorway.AuthCode
	var scope string
	var created, expires int64
	var used sql.NullInt64
	var ir installationRow
	err := db.r.QueryRowContext(ctx, `SELECT c.hash, c.profile, c.app_id, c.installation_id, c.redirect_uri, c.challenge, c.scope,
		c.created_at, c.expires_at, c.used_at, c.grant_id, `+installationColsI+`
		FROM auth_codes c JOIN installations i ON i.id = c.installation_id WHERE c.hash = $1`, hash).
		Scan(append([]any{&c.Hash, &c.Profile, &c.AppID, &c.InstallationID, &c.RedirectURI, &c.Challenge, &scope,
			&created, &expires, &used, &c.GrantID}, ir.dest()...)...)
	if err != nil {
		return nil, nil, db.notFound(err, "authorization code", "…")
	}
	if c.Scope, err = parseList(scope, "authorization code"); err != nil {
		return nil, nil, err
	}
	c.CreatedAt, c.ExpiresAt, c.UsedAt = fromMS(created), fromMS(expires), fromNullMS(used)
	inst, _, err := ir.value()
	return &c, inst, err
}

func (db *DB) RedeemCode(ctx context.Context, hash string, now time.Time, g *doorway.Grant, rt *doorway.RefreshToken) error {
	if db.d.OneTrip {
		// The usual case in one statement; a refusal goes on to the
		// transaction below, which finds out why (and revokes on replay).
		var refresh string
		var refreshAt int64
		if rt != nil {
			rt.GrantID, refresh, refreshAt = g.ID, rt.Hash, ms(rt.CreatedAt)
		}
		var n int
		err := db.w.QueryRowContext(ctx, `WITH c AS (
				UPDATE auth_codes SET used_at = $1, grant_id = $2
				WHERE hash = $3 AND used_at IS NULL AND expires_at > $4
				AND (SELECT status FROM installations WHERE id = auth_codes.installation_id) <> 'uninstalled'
				RETURNING hash),
			g AS (INSERT INTO grants (`+grantCols+`)
				SELECT $2, $5, $6, $7, $8, $9, $10, NULL FROM c RETURNING id),
			r AS (INSERT INTO refresh_tokens (hash, grant_id, created_at) SELECT $11, id, $12 FROM g WHERE $11 <> '')
			SELECT count(*) FROM c`,
			ms(now), g.ID, hash, ms(now), g.Kind, g.AppID, g.InstallationID, list(g.Scope), g.Rotate, ms(g.CreatedAt), refresh, refreshAt).Scan(&n)
		if err != nil || n == 1 {
			return err
		}
	}
	var refused error
	err := db.tx(ctx, func(tx txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE auth_codes SET used_at = $1, grant_id = $2
			WHERE hash = $3 AND used_at IS NULL AND expires_at > $4
			AND (SELECT status FROM installations WHERE id = auth_codes.installation_id) <> 'uninstalled'`,
			ms(now), g.ID, hash, ms(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var used sql.NullInt64
			var grantID string
			err := tx.QueryRowContext(ctx, `SELECT used_at, grant_id FROM auth_codes WHERE hash = $1`, hash).Scan(&used, &grantID)
			if err != nil {
				return db.notFound(err, "authorization code", "…")
			}
			if used.Valid {
				refused = fmt.Errorf("authorization code was redeemed before; its grant %s is revoked: %w", grantID, store.ErrConflict)
				_, err = tx.ExecContext(ctx, `UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, ms(now), grantID)
				return err
			}
			refused = fmt.Errorf("authorization code has expired or its installation was uninstalled: %w", store.ErrConflict)
			return nil
		}
		if err := insertGrant(ctx, tx, g); err != nil {
			return err
		}
		if rt != nil {
			rt.GrantID = g.ID
			return insertRefresh(ctx, tx, rt)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return refused
}

func (db *DB) RefreshToken(ctx context.Context, hash string) (*doorway.RefreshToken, error) {
	var rt doorway.RefreshToken
	var created int64
	var rotated sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT hash, grant_id, created_at, rotated_at FROM refresh_tokens WHERE hash = $1`, hash).
		Scan(&rt.Hash, &rt.GrantID, &created, &rotated)
	if err != nil {
		return nil, db.notFound(err, "refresh token", "…")
	}
	rt.CreatedAt, rt.RotatedAt = fromMS(created), fromNullMS(rotated)
	return &rt, nil
}

// Refresh reads the token with its grant and installation in one
// statement on the writer, inside the transaction: the handler needs no
// read of its own before it (whose reader cache every commit empties).
func (db *DB) Refresh(ctx context.Context, x store.RefreshExchange) (*doorway.Grant, *doorway.Installation, error) {
	var g *doorway.Grant
	var inst *doorway.Installation
	if db.d.OneTrip && x.New != nil {
		// The usual case, a rotating grant's unused token, in one
		// statement; anything else goes on to the transaction below.
		inst, g, err := both(db.w.QueryRowContext(ctx, `WITH t AS (
				UPDATE refresh_tokens SET rotated_at = $1
				WHERE hash = $2 AND rotated_at IS NULL AND grant_id IN (
					SELECT id FROM grants WHERE revoked_at IS NULL AND rotate AND ($3 = '' OR app_id = $3))
				RETURNING grant_id),
			n AS (INSERT INTO refresh_tokens (hash, grant_id, created_at) SELECT $4, grant_id, $5 FROM t)
			SELECT `+installationColsI+`, `+grantColsG+`
			FROM t JOIN grants g ON g.id = t.grant_id JOIN installations i ON i.id = g.installation_id`,
			ms(x.Now), x.Hash, x.AppID, x.New.Hash, ms(x.New.CreatedAt)))
		if err == nil {
			x.New.GrantID = g.ID
			return g, inst, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, nil, err
		}
	}
	var refused error
	err := db.tx(ctx, func(tx txn) error {
		var rotated sql.NullInt64
		var err error
		inst, g, err = both(tx.QueryRowContext(ctx, `SELECT rt.rotated_at, `+installationColsI+`, `+grantColsG+`
			FROM refresh_tokens rt JOIN grants g ON g.id = rt.grant_id JOIN installations i ON i.id = g.installation_id
			WHERE rt.hash = $1`, x.Hash), &rotated)
		if err == nil && x.AppID != "" && g.AppID != x.AppID {
			err = sql.ErrNoRows
		}
		if err != nil {
			return db.notFound(err, "refresh token", "…")
		}
		switch {
		case !g.RevokedAt.IsZero():
			refused = fmt.Errorf("grant %s was revoked: %w", g.ID, store.ErrConflict)
			return nil
		case !g.Rotate:
			return nil
		case rotated.Valid && x.Now.Sub(fromMS(rotated.Int64)) > x.Grace:
			refused = fmt.Errorf("refresh token was rotated at %s and reused; grant %s is revoked: %w",
				fromMS(rotated.Int64).Format(time.RFC3339), g.ID, store.ErrConflict)
			g.RevokedAt = x.Now
			_, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = $1 WHERE id = $2`, ms(x.Now), g.ID)
			return err
		case !rotated.Valid:
			if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET rotated_at = $1 WHERE hash = $2`, ms(x.Now), x.Hash); err != nil {
				return err
			}
		}
		if x.New == nil {
			return errors.New("refresh: a rotating grant needs a new refresh token")
		}
		x.New.GrantID = g.ID
		return insertRefresh(ctx, tx, x.New)
	})
	if err != nil {
		return nil, nil, err
	}
	if refused != nil {
		return g, nil, refused
	}
	return g, inst, nil
}

func (db *DB) CreateInstallToken(ctx context.Context, t *doorway.InstallToken) error {
	_, err := db.exec(ctx, `INSERT INTO install_tokens (hash, app_id, mode, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		t.Hash, t.AppID, t.Mode, ms(t.CreatedAt), ms(t.ExpiresAt))
	return err
}

func (db *DB) UseInstallToken(ctx context.Context, hash, appID string, now time.Time) (*doorway.InstallToken, error) {
	t := doorway.InstallToken{Hash: hash, AppID: appID, UsedAt: now}
	var created, expires int64
	var used sql.NullInt64
	err := db.tx(ctx, func(tx txn) error {
		err := tx.QueryRowContext(ctx, `SELECT mode, created_at, expires_at, used_at FROM install_tokens
			WHERE hash = $1 AND app_id = $2`, hash, appID).Scan(&t.Mode, &created, &expires, &used)
		if err != nil {
			return db.notFound(err, "install token for app", appID)
		}
		if used.Valid || fromMS(expires).Compare(now) <= 0 {
			return fmt.Errorf("install token was used or has expired: %w", store.ErrConflict)
		}
		// Conditional, so that of two uses at once on PostgreSQL only one
		// changes the row.
		res, err := tx.ExecContext(ctx, `UPDATE install_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL`, ms(now), hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("install token was used: %w", store.ErrConflict)
		}
		return nil
	})
	t.CreatedAt, t.ExpiresAt = fromMS(created), fromMS(expires)
	return &t, err
}

func (db *DB) SigningKeys(ctx context.Context) ([]doorway.SigningKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, algorithm, public_key, sealed, created_at, expires_at
		FROM signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []doorway.SigningKey
	for rows.Next() {
		var k doorway.SigningKey
		var created int64
		var expires sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.Public, &k.Sealed, &created, &expires); err != nil {
			return nil, err
		}
		k.CreatedAt, k.ExpiresAt = fromMS(created), fromNullMS(expires)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (db *DB) RotateSigningKeys(ctx context.Context, k *doorway.SigningKey, oldExpireAt time.Time) error {
	return db.tx(ctx, func(tx txn) error {
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET expires_at = $1 WHERE expires_at IS NULL`, ms(oldExpireAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, public_key, sealed, created_at) VALUES ($1, $2, $3, $4, $5)`,
			k.ID, k.Algorithm, k.Public, k.Sealed, ms(k.CreatedAt))
		return err
	})
}

func (db *DB) RenewInstallGrant(ctx context.Context, oldID string, g *doorway.Grant, now time.Time) error {
	return db.tx(ctx, func(tx txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE installations SET grant_id = $1, grant_revoked_at = NULL WHERE id = $2 AND grant_id = $3 AND status <> 'uninstalled'`,
			g.ID, g.InstallationID, oldID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("installation %s is uninstalled or its grant changed: %w", g.InstallationID, store.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, ms(now), oldID); err != nil {
			return err
		}
		return insertGrant(ctx, tx, g)
	})
}

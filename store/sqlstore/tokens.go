package sqlstore

import (
	"context"
	"crypto/subtle"
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

func scanGrant(row Row) (*doorway.Grant, error) {
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
func both(row Row, lead ...any) (*doorway.Installation, *doorway.Grant, error) {
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

// codeColsC are an authorization code's columns, prefixed with its alias
// (c); codeRow is where they are scanned.
const codeColsC = `c.hash, c.profile, c.app_id, c.installation_id, c.redirect_uri, c.challenge, c.scope,
	c.created_at, c.expires_at, c.used_at, c.grant_id`

type codeRow struct {
	c                doorway.AuthCode
	scope            string
	created, expires int64
	used             sql.NullInt64
}

func (r *codeRow) dest() []any {
	c := &r.c
	return []any{&c.Hash, &c.Profile, &c.AppID, &c.InstallationID, &c.RedirectURI, &c.Challenge, &r.scope,
		&r.created, &r.expires, &r.used, &c.GrantID}
}

func (r *codeRow) value() (*doorway.AuthCode, error) {
	var err error
	if r.c.Scope, err = parseList(r.scope, "authorization code"); err != nil {
		return nil, err
	}
	r.c.CreatedAt, r.c.ExpiresAt, r.c.UsedAt = fromMS(r.created), fromMS(r.expires), fromNullMS(r.used)
	return &r.c, nil
}

// codeAndInstallation scans one row of codeColsC then installationColsI.
func codeAndInstallation(row Row) (*doorway.AuthCode, *doorway.Installation, error) {
	var cr codeRow
	var ir installationRow
	if err := row.Scan(append(cr.dest(), ir.dest()...)...); err != nil {
		return nil, nil, err
	}
	c, err := cr.value()
	if err != nil {
		return nil, nil, err
	}
	inst, _, err := ir.value()
	return c, inst, err
}

var codeRead = `SELECT ` + codeColsC + `, ` + installationColsI + `
	FROM auth_codes c JOIN installations i ON i.id = c.installation_id WHERE c.hash = $1`

func (db *DB) AuthCode(ctx context.Context, hash string) (*doorway.AuthCode, *doorway.Installation, error) {
	c, inst, err := codeAndInstallation(db.r.QueryRowContext(ctx, codeRead, hash))
	return c, inst, db.notFound(err, "authorization code", "…")
}

// matches reports whether c was issued for x; the challenge is compared in
// constant time.
func matches(c *doorway.AuthCode, x store.Redemption) bool {
	return c.AppID == x.AppID && c.Profile == x.Profile && (c.RedirectURI == "" || c.RedirectURI == x.RedirectURI) &&
		subtle.ConstantTimeCompare([]byte(c.Challenge), []byte(x.Challenge)) == 1
}

// RedeemCode: on PostgreSQL the usual case, a matching unused code, is one
// statement, and the handler reads nothing before it (the database
// compares the challenge there: the SHA-256 of the client's verifier,
// which no client can choose, so the comparison's timing tells nothing).
// Anything else, and every redemption on SQLite, is the transaction below,
// which reads the code with its installation on the writer (whose cache
// the commits keep warm, unlike a reader's), compares in constant time,
// and finds out why.
func (db *DB) RedeemCode(ctx context.Context, x store.Redemption) (*doorway.AuthCode, *doorway.Installation, error) {
	g := x.Grant
	var refresh string
	var refreshAt int64
	if x.Refresh != nil {
		x.Refresh.GrantID, refresh, refreshAt = g.ID, x.Refresh.Hash, ms(x.Refresh.CreatedAt)
	}
	if db.d.OneTrip {
		c, inst, err := codeAndInstallation(db.oneTrip(ctx, `WITH c AS (
				UPDATE auth_codes SET used_at = $1, grant_id = $2
				WHERE hash = $3 AND used_at IS NULL AND expires_at > $1
				AND app_id = $4 AND profile = $5 AND (redirect_uri = '' OR redirect_uri = $6) AND challenge = $7
				AND (SELECT status FROM installations WHERE id = auth_codes.installation_id) <> 'uninstalled'
				RETURNING *),
			g AS (INSERT INTO grants (`+grantCols+`)
				SELECT $2, $8, app_id, installation_id, scope, $9, $10, NULL FROM c RETURNING id),
			r AS (INSERT INTO refresh_tokens (hash, grant_id, created_at) SELECT $11, id, $12 FROM g WHERE $11 <> '')
			SELECT `+codeColsC+`, `+installationColsI+` FROM c JOIN installations i ON i.id = c.installation_id`,
			ms(x.Now), g.ID, x.Hash, x.AppID, x.Profile, x.RedirectURI, x.Challenge, g.Kind, g.Rotate, ms(g.CreatedAt),
			refresh, refreshAt))
		if err == nil {
			g.AppID, g.InstallationID, g.Scope = c.AppID, c.InstallationID, c.Scope
			return c, inst, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, nil, err
		}
	}
	var c *doorway.AuthCode
	var inst *doorway.Installation
	var refused error
	err := db.tx(ctx, func(tx txn) error {
		var err error
		c, inst, err = codeAndInstallation(tx.QueryRowContext(ctx, codeRead, x.Hash))
		if err != nil {
			return db.notFound(err, "authorization code", "…")
		}
		switch {
		case !matches(c, x):
			refused = fmt.Errorf("authorization code was issued to another client or request: %w", store.ErrMismatch)
			return nil
		case !c.UsedAt.IsZero():
			refused = fmt.Errorf("authorization code was redeemed before; its grant %s is revoked: %w", c.GrantID, store.ErrConflict)
			_, err = tx.ExecContext(ctx, `UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, ms(x.Now), c.GrantID)
			return err
		case !x.Now.Before(c.ExpiresAt) || inst.Status == doorway.Uninstalled:
			refused = fmt.Errorf("authorization code has expired or its installation was uninstalled: %w", store.ErrConflict)
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE auth_codes SET used_at = $1, grant_id = $2 WHERE hash = $3 AND used_at IS NULL`,
			ms(x.Now), g.ID, x.Hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 { // redeemed since the read (PostgreSQL): a replay too
			refused = fmt.Errorf("authorization code was redeemed concurrently; that grant is revoked: %w", store.ErrConflict)
			_, err = tx.ExecContext(ctx, `UPDATE grants SET revoked_at = $1
				WHERE id = (SELECT grant_id FROM auth_codes WHERE hash = $2) AND revoked_at IS NULL`, ms(x.Now), x.Hash)
			return err
		}
		c.UsedAt, c.GrantID = x.Now, g.ID
		g.AppID, g.InstallationID, g.Scope = c.AppID, c.InstallationID, c.Scope
		if err := insertGrant(ctx, tx, g); err != nil {
			return err
		}
		if x.Refresh != nil {
			return insertRefresh(ctx, tx, x.Refresh)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return c, inst, refused
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
		inst, g, err := both(db.oneTrip(ctx, `WITH t AS (
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
	var used sql.NullInt64
	if !t.UsedAt.IsZero() {
		used = sql.NullInt64{Int64: ms(t.UsedAt), Valid: true}
	}
	_, err := db.exec(ctx, `INSERT INTO install_tokens (hash, app_id, mode, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.Hash, t.AppID, t.Mode, ms(t.CreatedAt), ms(t.ExpiresAt), used)
	return db.conflict(err, "install token")
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

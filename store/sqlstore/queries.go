package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/doorwayhq/doorway"
	"github.com/doorwayhq/doorway/store"
)

func (db *DB) CreateUser(ctx context.Context, u *doorway.User) error {
	_, err := db.exec(ctx, `INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)`,
		u.ID, strings.ToLower(u.Email), u.PasswordHash, ms(u.CreatedAt))
	return db.conflict(err, "user with email "+u.Email)
}

const userCols = `id, email, password_hash, created_at`

func scanUser(row Row) (*doorway.User, error) {
	var u doorway.User
	var created int64
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &created); err != nil {
		return nil, err
	}
	u.CreatedAt = fromMS(created)
	return &u, nil
}

func (db *DB) User(ctx context.Context, id string) (*doorway.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	return u, db.notFound(err, "user", id)
}

func (db *DB) UserByEmail(ctx context.Context, email string) (*doorway.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = $1`, strings.ToLower(email)))
	return u, db.notFound(err, "user with email", email)
}

func (db *DB) CreateTenant(ctx context.Context, t *doorway.Tenant, ownerID string) error {
	return db.tx(ctx, func(tx txn) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)`, t.ID, t.Name, ms(t.CreatedAt)); err != nil {
			return db.conflict(err, "tenant "+t.ID)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
			t.ID, ownerID, doorway.Owner, ms(t.CreatedAt))
		if err != nil && db.d.ForeignKey(err) {
			return fmt.Errorf("owner %q: %w", ownerID, store.ErrNotFound)
		}
		return err
	})
}

func (db *DB) Tenant(ctx context.Context, id string) (*doorway.Tenant, error) {
	var t doorway.Tenant
	var created int64
	err := db.r.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE id = $1`, id).Scan(&t.ID, &t.Name, &created)
	if err != nil {
		return nil, db.notFound(err, "tenant", id)
	}
	t.CreatedAt = fromMS(created)
	return &t, nil
}

func (db *DB) AddMember(ctx context.Context, tenantID, userID string, role doorway.Role, now time.Time) error {
	_, err := db.exec(ctx, `INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role`, tenantID, userID, role, ms(now))
	if err != nil && db.d.ForeignKey(err) {
		return fmt.Errorf("tenant %q or user %q: %w", tenantID, userID, store.ErrNotFound)
	}
	return err
}

func (db *DB) Memberships(ctx context.Context, userID string) ([]store.Membership, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT t.id, t.name, t.created_at, m.role FROM memberships m
		JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = $1 ORDER BY t.name, t.id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Membership
	for rows.Next() {
		var m store.Membership
		var created int64
		if err := rows.Scan(&m.Tenant.ID, &m.Tenant.Name, &created, &m.Role); err != nil {
			return nil, err
		}
		m.Tenant.CreatedAt = fromMS(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (db *DB) CreateSession(ctx context.Context, s *doorway.Session) error {
	_, err := db.exec(ctx, `INSERT INTO sessions (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		s.Hash, s.UserID, ms(s.CreatedAt), ms(s.ExpiresAt))
	return err
}

func (db *DB) Session(ctx context.Context, hash string, now time.Time) (*doorway.Session, *doorway.User, []store.Membership, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT s.hash, s.user_id, s.created_at, s.expires_at, u.email, u.password_hash, u.created_at,
			t.id, t.name, t.created_at, m.role
		FROM sessions s JOIN users u ON u.id = s.user_id
		LEFT JOIN memberships m ON m.user_id = u.id LEFT JOIN tenants t ON t.id = m.tenant_id
		WHERE s.hash = $1 AND s.expires_at > $2 ORDER BY t.name, t.id`, hash, ms(now))
	if err != nil {
		return nil, nil, nil, err
	}
	defer rows.Close()
	var s *doorway.Session
	var u doorway.User
	ms := []store.Membership{}
	for rows.Next() {
		s = &doorway.Session{}
		var created, expires, userCreated int64
		var tenant, name, role sql.NullString
		var tenantCreated sql.NullInt64
		if err := rows.Scan(&s.Hash, &s.UserID, &created, &expires, &u.Email, &u.PasswordHash, &userCreated,
			&tenant, &name, &tenantCreated, &role); err != nil {
			return nil, nil, nil, err
		}
		s.CreatedAt, s.ExpiresAt = fromMS(created), fromMS(expires)
		u.ID, u.CreatedAt = s.UserID, fromMS(userCreated)
		if tenant.Valid {
			ms = append(ms, store.Membership{Tenant: doorway.Tenant{ID: tenant.String, Name: name.String,
				CreatedAt: fromMS(tenantCreated.Int64)}, Role: doorway.Role(role.String)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, err
	}
	if s == nil {
		return nil, nil, nil, fmt.Errorf("session …: %w", store.ErrNotFound)
	}
	return s, &u, ms, nil
}

func (db *DB) DeleteSession(ctx context.Context, hash string) error {
	_, err := db.exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash)
	return err
}

func (db *DB) CreateApp(ctx context.Context, app *doorway.App, v *doorway.AppVersion, secrets []doorway.AppSecret) error {
	manifest, err := json.Marshal(v.Manifest)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx txn) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO apps (id, live_version_id, test_version_id, created_at) VALUES ($1, $2, $3, $4)`,
			app.ID, app.LiveVersionID, app.TestVersionID, ms(app.CreatedAt)); err != nil {
			return db.conflict(err, "app "+app.ID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO app_versions (id, app_id, version, manifest, created_at) VALUES ($1, $2, $3, $4, $5)`,
			v.ID, app.ID, v.Version, manifest, ms(v.CreatedAt)); err != nil {
			return err
		}
		return insertSecrets(ctx, tx, secrets)
	})
}

func insertSecrets(ctx context.Context, tx txn, secrets []doorway.AppSecret) error {
	for _, s := range secrets {
		if _, err := tx.ExecContext(ctx, `INSERT INTO app_secrets (id, app_id, kind, hash, sealed, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			s.ID, s.AppID, s.Kind, s.Hash, s.Sealed, ms(s.CreatedAt), nullMS(s.ExpiresAt)); err != nil {
			return err
		}
	}
	return nil
}

// AppCacheFor is how long a node reuses an app it read (which versions are
// live and test): every install and every webhook delivery reads it. A
// change made through this store is seen at once; one made on another node
// within AppCacheFor.
const AppCacheFor = time.Second

type cachedApp struct {
	app doorway.App
	at  time.Time
}

func (db *DB) App(ctx context.Context, id string) (*doorway.App, error) {
	now := time.Now()
	if c, ok := db.apps.Load(id); ok {
		if c := c.(cachedApp); now.Sub(c.at) < AppCacheFor && !now.Before(c.at) {
			a := c.app
			return &a, nil
		}
	}
	gen := db.appGen.Load()
	a, err := db.readApp(ctx, id)
	// A read that overlapped a change through this store is not kept: it
	// may have read the row from before the change.
	if err == nil && db.appGen.Load() == gen {
		if db.napps.Add(1) > maxCachedVersions {
			db.apps.Clear()
			db.napps.Store(1)
		}
		db.apps.Store(id, cachedApp{*a, now})
	}
	return a, err
}

func (db *DB) readApp(ctx context.Context, id string) (*doorway.App, error) {
	var a doorway.App
	var created int64
	err := db.r.QueryRowContext(ctx, `SELECT id, live_version_id, test_version_id, created_at FROM apps WHERE id = $1`, id).
		Scan(&a.ID, &a.LiveVersionID, &a.TestVersionID, &created)
	if err != nil {
		return nil, db.notFound(err, "app", id)
	}
	a.CreatedAt = fromMS(created)
	return &a, nil
}

func (db *DB) AddAppVersion(ctx context.Context, v *doorway.AppVersion, modes ...doorway.Mode) error {
	manifest, err := json.Marshal(v.Manifest)
	if err != nil {
		return err
	}
	err = db.tx(ctx, func(tx txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO app_versions (id, app_id, version, manifest, created_at) VALUES ($1, $2, $3, $4, $5)`,
			v.ID, v.AppID, v.Version, manifest, ms(v.CreatedAt))
		if err != nil && db.d.ForeignKey(err) {
			return fmt.Errorf("app %q: %w", v.AppID, store.ErrNotFound)
		}
		if err != nil {
			return db.conflict(err, fmt.Sprintf("version %q of app %s", v.Version, v.AppID))
		}
		for _, m := range modes {
			col := "test_version_id"
			if m == doorway.Live {
				col = "live_version_id"
			}
			if _, err := tx.ExecContext(ctx, `UPDATE apps SET `+col+` = $1 WHERE id = $2`, v.ID, v.AppID); err != nil {
				return err
			}
		}
		return nil
	})
	db.appGen.Add(1)
	db.apps.Delete(v.AppID)
	return err
}

const versionCols = `id, app_id, manifest, created_at`

func scanVersion(row Row) (*doorway.AppVersion, error) {
	var v doorway.AppVersion
	var manifest string
	var created int64
	if err := row.Scan(&v.ID, &v.AppID, &manifest, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(manifest), &v.Manifest); err != nil {
		return nil, fmt.Errorf("app version %s: stored manifest: %w", v.ID, err)
	}
	v.CreatedAt = fromMS(created)
	return &v, nil
}

func (db *DB) AppVersion(ctx context.Context, id string) (*doorway.AppVersion, error) {
	return db.version(ctx, db.r, id, true)
}

// version reads an app version, from memory when it was read before:
// versions never change once written (a change is a new version), so the
// copy is good on every node for as long as it lives. Only committed reads
// (remember) fill the cache. Callers get their own copy of the struct; its
// slices are shared and must not be modified.
func (db *DB) version(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) Row
}, id string, remember bool) (*doorway.AppVersion, error) {
	if v, ok := db.versions.Load(id); ok {
		c := *v.(*doorway.AppVersion)
		return &c, nil
	}
	v, err := scanVersion(q.QueryRowContext(ctx, `SELECT `+versionCols+` FROM app_versions WHERE id = $1`, id))
	if err != nil {
		return nil, db.notFound(err, "app version", id)
	}
	if remember {
		if db.nversions.Add(1) > maxCachedVersions {
			db.versions.Clear()
			db.nversions.Store(1)
		}
		db.versions.Store(id, v)
	}
	c := *v
	return &c, nil
}

// maxCachedVersions bounds the version and app caches; past it, a cache
// starts again empty.
const maxCachedVersions = 4096

func (db *DB) AppVersions(ctx context.Context, appID string) ([]doorway.AppVersion, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+versionCols+` FROM app_versions WHERE app_id = $1 ORDER BY created_at, rowid`, appID)
	return collect(rows, err, scanVersion)
}

func (db *DB) RotateAppSecrets(ctx context.Context, appID string, fresh []doorway.AppSecret, oldExpireAt time.Time) error {
	return db.tx(ctx, func(tx txn) error {
		for _, s := range fresh {
			if _, err := tx.ExecContext(ctx, `UPDATE app_secrets SET expires_at = $1
				WHERE app_id = $2 AND kind = $3 AND (expires_at IS NULL OR expires_at > $4)`,
				ms(oldExpireAt), appID, s.Kind, ms(oldExpireAt)); err != nil {
				return err
			}
		}
		return insertSecrets(ctx, tx, fresh)
	})
}

func (db *DB) AppSecrets(ctx context.Context, appID string) ([]doorway.AppSecret, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, app_id, kind, hash, sealed, created_at, expires_at FROM app_secrets
		WHERE app_id = $1 ORDER BY created_at DESC, rowid DESC`, appID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []doorway.AppSecret
	for rows.Next() {
		var s doorway.AppSecret
		var created int64
		var expires sql.NullInt64
		if err := rows.Scan(&s.ID, &s.AppID, &s.Kind, &s.Hash, &s.Sealed, &created, &expires); err != nil {
			return nil, err
		}
		s.CreatedAt, s.ExpiresAt = fromMS(created), fromNullMS(expires)
		out = append(out, s)
	}
	return out, rows.Err()
}

func (db *DB) CreateLink(ctx context.Context, l *doorway.InstallLink) error {
	_, err := db.exec(ctx, `INSERT INTO install_links (id, app_id, mode, created_at) VALUES ($1, $2, $3, $4)`,
		l.ID, l.AppID, l.Mode, ms(l.CreatedAt))
	if err != nil && db.d.ForeignKey(err) {
		return fmt.Errorf("app %q: %w", l.AppID, store.ErrNotFound)
	}
	return err
}

func (db *DB) Link(ctx context.Context, id string) (*doorway.InstallLink, error) {
	var l doorway.InstallLink
	var created int64
	err := db.r.QueryRowContext(ctx, `SELECT id, app_id, mode, created_at FROM install_links WHERE id = $1`, id).
		Scan(&l.ID, &l.AppID, &l.Mode, &created)
	if err != nil {
		return nil, db.notFound(err, "install link", id)
	}
	l.CreatedAt = fromMS(created)
	return &l, nil
}

func (db *DB) InstallRequest(ctx context.Context, id string) (*doorway.InstallRequest, error) {
	var r doorway.InstallRequest
	var created, expires int64
	var decided sql.NullInt64
	var scope sql.NullString
	err := db.r.QueryRowContext(ctx, `SELECT `+requestCols+` FROM install_requests WHERE id = $1`, id).
		Scan(&r.ID, &r.Profile, &r.AppID, &r.VersionID, &r.Mode, &r.RedirectURI, &r.State, &r.HasState,
			&r.BrowserHash, &r.UserID, &r.TenantID, &created, &expires, &r.CodeChallenge, &scope, &r.Decision, &decided)
	if err != nil {
		return nil, db.notFound(err, "install request", id)
	}
	if scope.Valid {
		if err := json.Unmarshal([]byte(scope.String), &r.Scope); err != nil {
			return nil, fmt.Errorf("install request %s: stored scope: %w", id, err)
		}
	}
	r.CreatedAt, r.ExpiresAt, r.DecidedAt = fromMS(created), fromMS(expires), fromNullMS(decided)
	return &r, nil
}

// insertRequest records a decided install request; its arguments are
// requestArgs.
const insertRequest = `INSERT INTO install_requests (` + requestCols + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`

const requestCols = `id, profile, app_id, version_id, mode, redirect_uri, state, has_state,
	browser_hash, user_id, tenant_id, created_at, expires_at, code_challenge, scope, decision, decided_at`

func requestArgs(r *doorway.InstallRequest, d doorway.Decision, now time.Time) []any {
	return []any{r.ID, r.Profile, r.AppID, r.VersionID, r.Mode, r.RedirectURI, r.State, r.HasState,
		r.BrowserHash, r.UserID, r.TenantID, ms(r.CreatedAt), ms(r.ExpiresAt), r.CodeChallenge, nullList(r.Scope), d, ms(now)}
}

// insertInstallation is the INSERT of an approval's installation, whose
// conflict clause the caller adds.
const insertInstallation = `INSERT INTO installations (id, app_id, tenant_id, mode, status, version_id, permissions,
		installed_by, event_seq, created_at, updated_at, grant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $11)`

// insertKeyedInstallation is insertInstallation with the installation's
// key (Dialect.InstallationKeys), whose two choices are $12 and $13.
var insertKeyedInstallation = `INSERT INTO installations (id, app_id, tenant_id, mode, status, version_id, permissions,
		installed_by, event_seq, created_at, updated_at, grant_id, id_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $11, ` +
	keyedInstallation(12) + `)`

func (db *DB) Decide(ctx context.Context, d store.Decision) (*doorway.Installation, error) {
	r := d.Request
	if !d.Now.Before(r.ExpiresAt) {
		return nil, fmt.Errorf("install request %q expired at %s: %w", r.ID, r.ExpiresAt.UTC().Format(time.RFC3339), store.ErrConflict)
	}
	if d.Decision == doorway.Approved && (r.TenantID == "" || (r.UserID == "" && d.Session == "")) {
		return nil, fmt.Errorf("install request %q has no tenant chosen: %w", r.ID, store.ErrConflict)
	}
	if db.d.OneTrip && d.Decision == doorway.Approved {
		inst, err := db.approveInOneTrip(ctx, d)
		if inst != nil || err != nil {
			return inst, err
		}
		// Refused: the transaction below finds out why.
	}
	var inst *doorway.Installation
	err := db.tx(ctx, func(tx txn) error {
		if d.Session != "" {
			uid, err := decider(ctx, tx, d)
			if err != nil {
				return err
			}
			r.UserID = uid
		}
		res, err := tx.ExecContext(ctx, insertRequest+` ON CONFLICT (id) DO NOTHING`, requestArgs(r, d.Decision, d.Now)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("install request %q is decided already: %w", r.ID, store.ErrConflict)
		}
		if d.Decision != doorway.Approved {
			return nil
		}
		v, err := db.version(ctx, tx, r.VersionID, false)
		if err != nil {
			return err
		}
		perms := make([]string, len(v.Permissions))
		for i, p := range v.Permissions {
			perms[i] = p.Permission
		}
		// A first install is one INSERT. The app installed in this tenant
		// before is re-approved: a live installation with other
		// permissions is a permissions change, anything else an install.
		eventType := doorway.EventInstalled
		now := ms(d.Now)
		args := []any{d.InstallationID, r.AppID, r.TenantID, r.Mode, doorway.SetupIncomplete, r.VersionID, list(perms), r.UserID, now, now, d.GrantID}
		insert := insertInstallation
		if db.d.InstallationKeys {
			first, second := InstallationKeys(d.InstallationID)
			insert, args = insertKeyedInstallation, append(args, first, second)
		}
		// A first install's row is the one written, so it is not read
		// back (SQLite keeps the rows of a RETURNING in a temporary table
		// of their own, which cost more than the INSERT).
		res, err = tx.ExecContext(ctx, insert+` ON CONFLICT (app_id, tenant_id, mode) DO NOTHING`, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		var seq int64
		if n == 1 {
			row := installationRow{i: doorway.Installation{ID: d.InstallationID, AppID: r.AppID, TenantID: r.TenantID,
				Mode: r.Mode, Status: doorway.SetupIncomplete, VersionID: r.VersionID, InstalledBy: r.UserID, GrantID: d.GrantID},
				perms: list(perms), seq: 1, created: now, updated: now}
			inst, seq, err = row.value()
		} else {
			var oldStatus, oldPerms string
			if err := tx.QueryRowContext(ctx, `SELECT status, permissions FROM installations WHERE app_id = $1 AND tenant_id = $2 AND mode = $3`,
				r.AppID, r.TenantID, r.Mode).Scan(&oldStatus, &oldPerms); err != nil {
				return err
			}
			if oldStatus != string(doorway.Uninstalled) && oldPerms != list(perms) {
				eventType = doorway.EventPermissionsChanged
			}
			inst, seq, err = scanInstallation(tx.QueryRowContext(ctx, insert+`
				ON CONFLICT (app_id, tenant_id, mode) DO UPDATE SET
					status = CASE WHEN installations.status = 'uninstalled' THEN excluded.status ELSE installations.status END,
					version_id = excluded.version_id, permissions = excluded.permissions, installed_by = excluded.installed_by,
					event_seq = installations.event_seq + 1, updated_at = excluded.updated_at, grant_id = excluded.grant_id, grant_revoked_at = NULL
				RETURNING `+installationRead, args...))
		}
		if err != nil {
			return err
		}
		g := &doorway.Grant{ID: d.GrantID, Kind: doorway.GrantInstall, AppID: r.AppID, InstallationID: inst.ID,
			Scope: perms, CreatedAt: d.Now}
		if err := insertGrant(ctx, tx, g); err != nil {
			return err
		}
		if c := d.Code; c != nil {
			c.InstallationID = inst.ID
			if _, err := tx.ExecContext(ctx, `INSERT INTO auth_codes (hash, profile, app_id, installation_id, redirect_uri,
				challenge, scope, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				c.Hash, c.Profile, c.AppID, c.InstallationID, c.RedirectURI, c.Challenge, list(c.Scope),
				ms(c.CreatedAt), ms(c.ExpiresAt)); err != nil {
				return err
			}
		}
		return insertEvent(ctx, tx, d.EventID, eventType, inst, r.UserID, seq, r.State, d.Now)
	})
	return inst, err
}

// decider returns the user of d.Session if that session is live at d.Now
// and, for an approval, the user is a member of the request's tenant
// (store.Decision.Session).
func decider(ctx context.Context, tx txn, d store.Decision) (string, error) {
	tenant := ""
	if d.Decision == doorway.Approved {
		tenant = d.Request.TenantID
	}
	var uid string
	err := tx.QueryRowContext(ctx, `SELECT s.user_id FROM sessions s WHERE s.hash = $1 AND s.expires_at > $2
		AND (CAST($3 AS TEXT) = '' OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = s.user_id AND m.tenant_id = $3))`,
		d.Session, ms(d.Now), tenant).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("the session deciding install request %q has ended, or its user is not a member of tenant %q: %w",
			d.Request.ID, tenant, store.ErrNotFound)
	}
	return uid, err
}

// approveInOneTrip is Decide's approval as one statement (Dialect.OneTrip):
// the same writes as the transaction of Decide. It returns nil, nil when
// the request was not approved (decided already, its version is gone, or
// the deciding session has ended or is not a member of the tenant),
// having changed nothing.
func (db *DB) approveInOneTrip(ctx context.Context, d store.Decision) (*doorway.Installation, error) {
	r := d.Request
	v, err := db.version(ctx, db.r, r.VersionID, true)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	perms := make([]string, len(v.Permissions))
	for i, p := range v.Permissions {
		perms[i] = p.Permission
	}
	var code doorway.AuthCode
	if d.Code != nil {
		code = *d.Code
	}
	now := ms(d.Now)
	inst, _, err := scanInstallation(db.oneTrip(ctx, `WITH who AS (
			SELECT CAST($3 AS TEXT) AS user_id WHERE CAST($35 AS TEXT) = ''
			UNION ALL
			SELECT s.user_id FROM sessions s WHERE s.hash = $35 AND s.expires_at > $1
				AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = s.user_id AND m.tenant_id = $4)),
		r AS (
			INSERT INTO install_requests (`+requestCols+`)
			SELECT $5, $24, $25, $6, $26, $27, $28, $29, $30, who.user_id, $4, $31, $32, $33, $34, $2, $1 FROM who
			ON CONFLICT (id) DO NOTHING
			RETURNING app_id, version_id, mode, user_id, tenant_id, state),
		old AS (
			SELECT i.status, i.permissions FROM installations i, r
			WHERE i.app_id = r.app_id AND i.tenant_id = r.tenant_id AND i.mode = r.mode),
		ins AS (
			INSERT INTO installations (`+installationCols+`)
			SELECT $7, r.app_id, r.tenant_id, r.mode, $8, r.version_id, $9, r.user_id, 1, $1, $1, $10 FROM r
			ON CONFLICT (app_id, tenant_id, mode) DO UPDATE SET
				status = CASE WHEN installations.status = $11 THEN excluded.status ELSE installations.status END,
				version_id = excluded.version_id, permissions = excluded.permissions, installed_by = excluded.installed_by,
				event_seq = installations.event_seq + 1, updated_at = excluded.updated_at, grant_id = excluded.grant_id, grant_revoked_at = NULL
			RETURNING `+installationRead+`),
		g AS (
			INSERT INTO grants (`+grantCols+`)
			SELECT $10, $12, ins.app_id, ins.id, $9, false, $1, NULL FROM ins),
		c AS (
			INSERT INTO auth_codes (hash, profile, app_id, installation_id, redirect_uri, challenge, scope, created_at, expires_at)
			SELECT $13, $14, $15, ins.id, $16, $17, $18, $19, $20 FROM ins WHERE CAST($13 AS TEXT) <> ''),
		e AS (
			INSERT INTO events (id, type, app_id, installation_id, tenant_id, user_id, mode, permissions, sequence, state,
				created_at, next_attempt_at)
			SELECT $21, CASE WHEN old.status IS NOT NULL AND old.status <> $11 AND old.permissions <> $9 THEN $22 ELSE $23 END,
				ins.app_id, ins.id, ins.tenant_id, r.user_id, ins.mode, ins.permissions, ins.event_seq, r.state, $1, $1
			FROM ins CROSS JOIN r LEFT JOIN old ON true)
		SELECT `+installationRead+` FROM ins`,
		now, d.Decision, r.UserID, r.TenantID, r.ID, r.VersionID,
		d.InstallationID, doorway.SetupIncomplete, list(perms), d.GrantID, doorway.Uninstalled, doorway.GrantInstall,
		code.Hash, code.Profile, code.AppID, code.RedirectURI, code.Challenge, list(code.Scope), ms(code.CreatedAt), ms(code.ExpiresAt),
		d.EventID, doorway.EventPermissionsChanged, doorway.EventInstalled,
		r.Profile, r.AppID, r.Mode, r.RedirectURI, r.State, r.HasState, r.BrowserHash,
		ms(r.CreatedAt), ms(r.ExpiresAt), r.CodeChallenge, nullList(r.Scope), d.Session))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if d.Session != "" {
		r.UserID = inst.InstalledBy // the session's user (store.Decision.Session)
	}
	if d.Code != nil {
		d.Code.InstallationID = inst.ID
	}
	return inst, nil
}

// installationCols are the columns an installation is written with;
// installationRead adds grant_revoked_at, which the grants' triggers keep
// (migration 0007_grant_revoked). A statement that sets grant_id points it
// at a new grant, so it sets grant_revoked_at to NULL with it.
const (
	installationCols = `id, app_id, tenant_id, mode, status, version_id, permissions, installed_by, event_seq, created_at, updated_at, grant_id`
	installationRead = installationCols + `, grant_revoked_at`
)

// installationRow is where a row of installationRead is scanned.
type installationRow struct {
	i                     doorway.Installation
	perms                 string
	seq, created, updated int64
	revoked               sql.NullInt64
}

func (r *installationRow) dest() []any {
	i := &r.i
	return []any{&i.ID, &i.AppID, &i.TenantID, &i.Mode, &i.Status, &i.VersionID, &r.perms, &i.InstalledBy, &r.seq, &r.created, &r.updated, &i.GrantID, &r.revoked}
}

func (r *installationRow) value() (*doorway.Installation, int64, error) {
	var err error
	if r.i.Permissions, err = parseList(r.perms, "installation "+r.i.ID); err != nil {
		return nil, 0, err
	}
	r.i.CreatedAt, r.i.UpdatedAt, r.i.GrantRevokedAt = fromMS(r.created), fromMS(r.updated), fromNullMS(r.revoked)
	return &r.i, r.seq, nil
}

func scanInstallation(row Row) (*doorway.Installation, int64, error) {
	var r installationRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, 0, err
	}
	return r.value()
}

func (db *DB) Installation(ctx context.Context, id string) (*doorway.Installation, error) {
	if !db.d.InstallationKeys {
		i, _, err := scanInstallation(db.r.QueryRowContext(ctx, `SELECT `+installationRead+` FROM installations WHERE id = $1`, id))
		return i, db.notFound(err, "installation", id)
	}
	// By the id's first key, one tree; then by id, through the unique
	// index: the rows kept under a second key, and those an older binary
	// wrote without one (it lets SQLite pick the key) while a rolling
	// upgrade ran.
	i, _, err := scanInstallation(db.r.QueryRowContext(ctx, `SELECT `+installationRead+` FROM installations
		WHERE id_key = $1 AND id = $2`, firstKey(id), id))
	if errors.Is(err, sql.ErrNoRows) {
		i, _, err = scanInstallation(db.r.QueryRowContext(ctx, `SELECT `+installationRead+` FROM installations WHERE id = $1`, id))
	}
	return i, db.notFound(err, "installation", id)
}

func (db *DB) InstallationFor(ctx context.Context, appID, tenantID string, mode doorway.Mode) (*doorway.Installation, error) {
	i, _, err := scanInstallation(db.r.QueryRowContext(ctx, `SELECT `+installationRead+` FROM installations
		WHERE app_id = $1 AND tenant_id = $2 AND mode = $3`, appID, tenantID, mode))
	return i, db.notFound(err, "installation of app in tenant", appID+" "+tenantID)
}

-- Tables found by their text key become WITHOUT ROWID tables.
--
-- A table with a TEXT PRIMARY KEY keeps its rows in a rowid B-tree and the
-- key in a second one, so every lookup walks two trees and every insert
-- writes both. WITHOUT ROWID keeps the rows in the key's tree: one walk and
-- one tree to write. These are the tables read by key on every install,
-- token and session: small rows, which is what WITHOUT ROWID suits. The
-- events (large rows, read in order) and the apps' own tables (cached)
-- stay as they were.
--
-- SQLite cannot change a table's kind in place; each table is rebuilt
-- (https://sqlite.org/lang_altertable.html#otheralter). Migrations run with
-- foreign keys off, so dropping a table others refer to is allowed; the
-- references name the table, and the new one takes its name.
--
-- memberships is keyed (user_id, tenant_id): every read starts from the
-- user (a session's memberships), and the key is as unique either way.

CREATE TABLE users_new (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE, -- stored lower-cased
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO users_new (id, email, password_hash, created_at)
    SELECT id, email, password_hash, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;

CREATE TABLE tenants_new (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO tenants_new (id, name, created_at) SELECT id, name, created_at FROM tenants;
DROP TABLE tenants;
ALTER TABLE tenants_new RENAME TO tenants;

CREATE TABLE memberships_new (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, tenant_id)
) WITHOUT ROWID;
INSERT INTO memberships_new (tenant_id, user_id, role, created_at)
    SELECT tenant_id, user_id, role, created_at FROM memberships;
DROP TABLE memberships;
ALTER TABLE memberships_new RENAME TO memberships;
CREATE INDEX memberships_tenant ON memberships (tenant_id);

CREATE TABLE sessions_new (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO sessions_new (hash, user_id, created_at, expires_at)
    SELECT hash, user_id, created_at, expires_at FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;

CREATE TABLE install_requests_new (
    id             TEXT PRIMARY KEY,
    profile        TEXT NOT NULL,
    app_id         TEXT NOT NULL REFERENCES apps (id),
    version_id     TEXT NOT NULL REFERENCES app_versions (id),
    mode           TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    state          TEXT NOT NULL,
    has_state      INTEGER NOT NULL,
    browser_hash   TEXT NOT NULL,
    user_id        TEXT NOT NULL DEFAULT '',
    tenant_id      TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    decision       TEXT NOT NULL DEFAULT '',
    decided_at     INTEGER,
    code_challenge TEXT NOT NULL DEFAULT '',
    scope          TEXT -- JSON list; NULL: the version's permissions
) WITHOUT ROWID;
INSERT INTO install_requests_new (id, profile, app_id, version_id, mode, redirect_uri, state, has_state,
        browser_hash, user_id, tenant_id, created_at, expires_at, decision, decided_at, code_challenge, scope)
    SELECT id, profile, app_id, version_id, mode, redirect_uri, state, has_state,
        browser_hash, user_id, tenant_id, created_at, expires_at, decision, decided_at, code_challenge, scope
    FROM install_requests;
DROP TABLE install_requests;
ALTER TABLE install_requests_new RENAME TO install_requests;

CREATE TABLE installations_new (
    id           TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES apps (id),
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    mode         TEXT NOT NULL,
    status       TEXT NOT NULL,
    version_id   TEXT NOT NULL,
    permissions  TEXT NOT NULL,
    installed_by TEXT NOT NULL,
    event_seq    INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    grant_id     TEXT NOT NULL DEFAULT '',
    UNIQUE (app_id, tenant_id, mode)
) WITHOUT ROWID;
INSERT INTO installations_new (id, app_id, tenant_id, mode, status, version_id, permissions, installed_by,
        event_seq, created_at, updated_at, grant_id)
    SELECT id, app_id, tenant_id, mode, status, version_id, permissions, installed_by,
        event_seq, created_at, updated_at, grant_id
    FROM installations;
DROP TABLE installations;
ALTER TABLE installations_new RENAME TO installations;
CREATE INDEX installations_tenant ON installations (tenant_id);

CREATE TABLE grants_new (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    app_id          TEXT NOT NULL REFERENCES apps (id),
    installation_id TEXT NOT NULL REFERENCES installations (id),
    scope           TEXT NOT NULL, -- JSON list
    rotate          INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER
) WITHOUT ROWID;
INSERT INTO grants_new (id, kind, app_id, installation_id, scope, rotate, created_at, revoked_at)
    SELECT id, kind, app_id, installation_id, scope, rotate, created_at, revoked_at FROM grants;
DROP TABLE grants;
ALTER TABLE grants_new RENAME TO grants;
CREATE INDEX grants_installation ON grants (installation_id) WHERE revoked_at IS NULL;

CREATE TABLE auth_codes_new (
    hash            TEXT PRIMARY KEY, -- SHA-256 of the code
    profile         TEXT NOT NULL,
    app_id          TEXT NOT NULL REFERENCES apps (id),
    installation_id TEXT NOT NULL REFERENCES installations (id),
    redirect_uri    TEXT NOT NULL,
    challenge       TEXT NOT NULL,
    scope           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER,
    grant_id        TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
INSERT INTO auth_codes_new (hash, profile, app_id, installation_id, redirect_uri, challenge, scope,
        created_at, expires_at, used_at, grant_id)
    SELECT hash, profile, app_id, installation_id, redirect_uri, challenge, scope,
        created_at, expires_at, used_at, grant_id
    FROM auth_codes;
DROP TABLE auth_codes;
ALTER TABLE auth_codes_new RENAME TO auth_codes;

CREATE TABLE refresh_tokens_new (
    hash       TEXT PRIMARY KEY, -- SHA-256 of the token
    grant_id   TEXT NOT NULL REFERENCES grants (id),
    created_at INTEGER NOT NULL,
    rotated_at INTEGER
) WITHOUT ROWID;
INSERT INTO refresh_tokens_new (hash, grant_id, created_at, rotated_at)
    SELECT hash, grant_id, created_at, rotated_at FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_new RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

CREATE TABLE install_tokens_new (
    hash       TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    mode       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) WITHOUT ROWID;
INSERT INTO install_tokens_new (hash, app_id, mode, created_at, expires_at, used_at)
    SELECT hash, app_id, mode, created_at, expires_at, used_at FROM install_tokens;
DROP TABLE install_tokens;
ALTER TABLE install_tokens_new RENAME TO install_tokens;

CREATE TABLE webhook_disabled_new (
    app_id      TEXT NOT NULL REFERENCES apps (id),
    url         TEXT NOT NULL,
    disabled_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, url)
) WITHOUT ROWID;
INSERT INTO webhook_disabled_new (app_id, url, disabled_at) SELECT app_id, url, disabled_at FROM webhook_disabled;
DROP TABLE webhook_disabled;
ALTER TABLE webhook_disabled_new RENAME TO webhook_disabled;

CREATE TABLE rate_limits_new (
    key TEXT PRIMARY KEY,
    tat INTEGER NOT NULL -- GCRA's theoretical arrival time, Unix ms
) WITHOUT ROWID;
INSERT INTO rate_limits_new (key, tat) SELECT key, tat FROM rate_limits;
DROP TABLE rate_limits;
ALTER TABLE rate_limits_new RENAME TO rate_limits;
CREATE INDEX rate_limits_tat ON rate_limits (tat);

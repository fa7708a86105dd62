-- PostgreSQL. Times are Unix milliseconds (BIGINT), as in the SQLite schema,
-- so both backends share their SQL; lists are JSON text.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE, -- stored lower-cased
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE sessions (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE apps (
    id              TEXT PRIMARY KEY,
    live_version_id TEXT NOT NULL DEFAULT '',
    test_version_id TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);

-- rowid: insertion order, as SQLite's implicit rowid, so that both backends
-- share "ORDER BY created_at, rowid".
CREATE TABLE app_versions (
    rowid      BIGINT GENERATED ALWAYS AS IDENTITY,
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    version    TEXT NOT NULL,
    manifest   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (app_id, version)
);

CREATE TABLE app_secrets (
    rowid      BIGINT GENERATED ALWAYS AS IDENTITY,
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    kind       TEXT NOT NULL,
    hash       TEXT NOT NULL DEFAULT '',
    sealed     TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT -- NULL: no expiry
);
CREATE INDEX app_secrets_app ON app_secrets (app_id);

CREATE TABLE install_links (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    mode       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE install_requests (
    id           TEXT PRIMARY KEY,
    profile      TEXT NOT NULL,
    app_id       TEXT NOT NULL REFERENCES apps (id),
    version_id   TEXT NOT NULL REFERENCES app_versions (id),
    mode         TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    state        TEXT NOT NULL,
    has_state    BOOLEAN NOT NULL,
    browser_hash TEXT NOT NULL,
    user_id      TEXT NOT NULL DEFAULT '',
    tenant_id    TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    decision     TEXT NOT NULL DEFAULT '',
    decided_at   BIGINT
);

CREATE TABLE installations (
    id           TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES apps (id),
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    mode         TEXT NOT NULL,
    status       TEXT NOT NULL,
    version_id   TEXT NOT NULL,
    permissions  TEXT NOT NULL,
    installed_by TEXT NOT NULL,
    event_seq    INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (app_id, tenant_id, mode)
);

-- The outbox: written in the transaction that causes the event.
CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    app_id          TEXT NOT NULL,
    installation_id TEXT NOT NULL REFERENCES installations (id),
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    mode            TEXT NOT NULL,
    permissions     TEXT NOT NULL,
    sequence        INTEGER NOT NULL,
    state           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (installation_id, sequence)
);

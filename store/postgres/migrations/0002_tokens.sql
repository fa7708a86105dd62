-- OAuth: grants, codes, refresh tokens, signing keys; lifecycle columns.
ALTER TABLE install_requests ADD COLUMN code_challenge TEXT NOT NULL DEFAULT '';
ALTER TABLE install_requests ADD COLUMN scope TEXT; -- JSON list; NULL: the version's permissions
ALTER TABLE installations ADD COLUMN grant_id TEXT NOT NULL DEFAULT '';

CREATE INDEX app_secrets_hash ON app_secrets (hash) WHERE hash <> '';
CREATE INDEX installations_tenant ON installations (tenant_id);

CREATE TABLE grants (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    app_id          TEXT NOT NULL REFERENCES apps (id),
    installation_id TEXT NOT NULL REFERENCES installations (id),
    scope           TEXT NOT NULL, -- JSON list
    rotate          BOOLEAN NOT NULL,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);
CREATE INDEX grants_installation ON grants (installation_id) WHERE revoked_at IS NULL;

CREATE TABLE auth_codes (
    hash            TEXT PRIMARY KEY, -- SHA-256 of the code
    profile         TEXT NOT NULL,
    app_id          TEXT NOT NULL REFERENCES apps (id),
    installation_id TEXT NOT NULL REFERENCES installations (id),
    redirect_uri    TEXT NOT NULL,
    challenge       TEXT NOT NULL,
    scope           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT,
    grant_id        TEXT NOT NULL DEFAULT ''
);

CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY, -- SHA-256 of the token
    grant_id   TEXT NOT NULL REFERENCES grants (id),
    created_at BIGINT NOT NULL,
    rotated_at BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

CREATE TABLE install_tokens (
    hash       TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id),
    mode       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE TABLE signing_keys (
    id         TEXT PRIMARY KEY,
    algorithm  TEXT NOT NULL,
    public_key BYTEA NOT NULL,
    sealed     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);

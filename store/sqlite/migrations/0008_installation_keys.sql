-- installations were unique on (app_id, tenant_id, mode) and indexed on
-- tenant_id. Two costs:
--
--   - an app's installations were paged (Store.Installations: app_id, then
--     id > after, ORDER BY id) through the first key, which is in tenant
--     order, so every page read and sorted all of the app's installations:
--     21 ms a page for an app with 10,000 of them, and listing an app with
--     a million was quadratic;
--   - each install wrote both keys at a random place (tenants are in no
--     order), two random pages in its commit.
--
-- Now the unique key starts with the tenant, which also serves the
-- tenant's listing (so installations_tenant goes), and installations_app
-- (app_id, id) pages an app's installations in order, appended to as ids
-- are time-ordered. ON CONFLICT (app_id, tenant_id, mode) names the same
-- key: SQLite and PostgreSQL match a conflict target's columns in any
-- order.
--
-- SQLite cannot change a table's constraint in place, so the table is
-- rebuilt (as 0006 did). The triggers of 0007 name installations, and
-- a rename checks every trigger, so they are dropped first and made again.

DROP TRIGGER grants_revoked;
DROP TRIGGER grants_inserted_revoked;

CREATE TABLE installations_new (
    id               TEXT PRIMARY KEY,
    app_id           TEXT NOT NULL REFERENCES apps (id),
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    mode             TEXT NOT NULL,
    status           TEXT NOT NULL,
    version_id       TEXT NOT NULL,
    permissions      TEXT NOT NULL,
    installed_by     TEXT NOT NULL,
    event_seq        INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    grant_id         TEXT NOT NULL DEFAULT '',
    grant_revoked_at INTEGER,
    UNIQUE (tenant_id, app_id, mode)
) WITHOUT ROWID;
INSERT INTO installations_new (id, app_id, tenant_id, mode, status, version_id, permissions, installed_by,
        event_seq, created_at, updated_at, grant_id, grant_revoked_at)
    SELECT id, app_id, tenant_id, mode, status, version_id, permissions, installed_by,
        event_seq, created_at, updated_at, grant_id, grant_revoked_at
    FROM installations ORDER BY id;
DROP TABLE installations;
ALTER TABLE installations_new RENAME TO installations;
CREATE INDEX installations_app ON installations (app_id, id);

CREATE TRIGGER grants_revoked AFTER UPDATE OF revoked_at ON grants
BEGIN
    UPDATE installations SET grant_revoked_at = NEW.revoked_at
    WHERE id = NEW.installation_id AND grant_id = NEW.id;
END;

CREATE TRIGGER grants_inserted_revoked AFTER INSERT ON grants WHEN NEW.revoked_at IS NOT NULL
BEGIN
    UPDATE installations SET grant_revoked_at = NEW.revoked_at
    WHERE id = NEW.installation_id AND grant_id = NEW.id;
END;

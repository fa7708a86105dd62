-- An access token reads its installation by id, and installations were a
-- WITHOUT ROWID table keyed by id. That format keeps whole rows in its
-- interior pages as well as its leaves: at a million installations about
-- sixteen ~220-byte rows to an interior page, five levels and 3,894
-- interior pages, more than a reader's page cache keeps, so a random read
-- made two page reads from the OS, and more CPU the deeper the tree.
--
-- Now installations are a rowid table keyed by id_key, an integer from the
-- id (sqlstore.InstallationKeys: the id's time order, so installs still
-- append, or for two ids that share it, a hash of the id for the second).
-- Interior pages of a rowid table hold only integers, hundreds to a page:
-- a read by key makes one page read, its leaf. The unique index on id
-- keeps ids unique, serves every other lookup by id and is what the tables
-- that reference installations point at.
--
-- doorway_installation_key(id, 1 or 2) is the id's first or second key,
-- the Go function registered by package sqlite. An id whose first key an
-- installation copied before it took already is copied in a second pass
-- under its second.

DROP TRIGGER grants_revoked;
DROP TRIGGER grants_inserted_revoked;

CREATE TABLE installations_new (
    id_key           INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
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
);
-- OR IGNORE skips only a row whose key is taken: the rows come from a table
-- with the same NOT NULL columns and the same unique id and (tenant, app,
-- mode).
INSERT OR IGNORE INTO installations_new (id_key, id, app_id, tenant_id, mode, status, version_id, permissions,
        installed_by, event_seq, created_at, updated_at, grant_id, grant_revoked_at)
    SELECT doorway_installation_key(id, 1), id, app_id, tenant_id, mode, status, version_id, permissions,
        installed_by, event_seq, created_at, updated_at, grant_id, grant_revoked_at
    FROM installations ORDER BY id;
INSERT INTO installations_new (id_key, id, app_id, tenant_id, mode, status, version_id, permissions,
        installed_by, event_seq, created_at, updated_at, grant_id, grant_revoked_at)
    SELECT doorway_installation_key(id, 2), id, app_id, tenant_id, mode, status, version_id, permissions,
        installed_by, event_seq, created_at, updated_at, grant_id, grant_revoked_at
    FROM installations WHERE id NOT IN (SELECT id FROM installations_new);
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

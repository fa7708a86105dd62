-- The same keys as SQLite's 0008_installation_keys (see there): the unique
-- key starts with the tenant, which also serves the tenant's listing (so
-- installations_tenant goes), and installations_app (app_id, id) pages an
-- app's installations in id order. An install now writes one key at a
-- random place instead of two. (PostgreSQL paged an app's installations
-- well enough before, by walking the primary key and skipping other apps'
-- rows; SQLite sorted them all.)
--
-- ON CONFLICT (app_id, tenant_id, mode) infers the new key: PostgreSQL
-- matches a conflict target's columns in any order. The new indexes are
-- built before the old ones are dropped, in this migration's transaction.
CREATE UNIQUE INDEX installations_tenant_app ON installations (tenant_id, app_id, mode);
ALTER TABLE installations DROP CONSTRAINT installations_app_id_tenant_id_mode_key;
DROP INDEX installations_tenant;
CREATE INDEX installations_app ON installations (app_id, id);

-- The references that every install writes are no longer checked by
-- PostgreSQL. A foreign-key check locks the referenced row (FOR KEY
-- SHARE); every install's statements referenced its app's row and its
-- version's row, so concurrent installs of one app all locked the same two
-- rows, which PostgreSQL records with MultiXacts, and the checks were about
-- 300 µs of the approval's statement, about 190 µs of the code redemption's
-- and 100 µs of the webhook record's (auto_explain, log_triggers, during
-- the load benchmark's installs). Dropping them: 1,041-1,120 → 844-867 µs
-- of the database's CPU per install, 850-909 → 992-1,031 installs/s
-- (BENCHMARKS.md).
--
-- What they guarded still holds by construction: these rows are written
-- only by Doorway's own statements, which take the app and version from
-- rows they were resolved from, and the installation, grant or event from
-- the row the same statement writes; apps, versions, tenants,
-- installations, grants and events are never deleted. An import, whose ids
-- come from outside, checks its apps, versions and tenants itself
-- (sqlstore.importedRefer). SQLite keeps the constraints: its checks take
-- no lock, and the conformance suite runs on both, so a statement that
-- wrote a dangling reference would still fail there.
ALTER TABLE install_requests DROP CONSTRAINT install_requests_app_id_fkey,
    DROP CONSTRAINT install_requests_version_id_fkey;
ALTER TABLE installations DROP CONSTRAINT installations_app_id_fkey,
    DROP CONSTRAINT installations_tenant_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_installation_id_fkey;
ALTER TABLE grants DROP CONSTRAINT grants_app_id_fkey,
    DROP CONSTRAINT grants_installation_id_fkey;
ALTER TABLE auth_codes DROP CONSTRAINT auth_codes_app_id_fkey,
    DROP CONSTRAINT auth_codes_installation_id_fkey;
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_grant_id_fkey;
ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_event_id_fkey;

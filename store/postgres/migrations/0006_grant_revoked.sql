-- An instance token (client_credentials) needs the installation and
-- whether its grant (installations.grant_id) was revoked; reading the
-- grant too cost a second index lookup per token (see the SQLite
-- migration 0007_grant_revoked.sql and BENCHMARKS.md).
--
-- grant_revoked_at is a copy of grants.revoked_at for the grant that
-- grant_id names. The trigger keeps it whatever revokes a grant; a
-- statement that points grant_id at another grant sets it too (it is
-- always a new grant, so NULL).
ALTER TABLE installations ADD COLUMN grant_revoked_at BIGINT;

-- Only the installations whose grant is revoked are rewritten.
UPDATE installations i SET grant_revoked_at = g.revoked_at FROM grants g
WHERE g.id = i.grant_id AND g.revoked_at IS NOT NULL;

CREATE FUNCTION grants_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE installations SET grant_revoked_at = NEW.revoked_at
    WHERE id = NEW.installation_id AND grant_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER grants_revoked AFTER UPDATE OF revoked_at ON grants
    FOR EACH ROW WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at) EXECUTE FUNCTION grants_revoked();

CREATE TRIGGER grants_inserted_revoked AFTER INSERT ON grants
    FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL) EXECUTE FUNCTION grants_revoked();

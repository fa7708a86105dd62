-- An instance token (client_credentials) needs the installation and
-- whether its grant (installations.grant_id) was revoked. Reading the
-- grant too walked a second B-tree per token: at 1,000,000 installations
-- that tree's pages come from the OS, and the two walks were 24-28 µs
-- against 15 µs for the installation alone (BENCHMARKS.md).
--
-- grant_revoked_at is a copy of grants.revoked_at for the grant that
-- grant_id names. The triggers keep it whatever revokes a grant; a
-- statement that points grant_id at another grant sets it too (it is
-- always a new grant, so NULL).
ALTER TABLE installations ADD COLUMN grant_revoked_at INTEGER;

-- Only the installations with a revoked grant are rewritten: the others
-- keep NULL, which is right, and a million of them would take a while.
UPDATE installations SET grant_revoked_at = (SELECT g.revoked_at FROM grants g WHERE g.id = installations.grant_id)
WHERE id IN (SELECT installation_id FROM grants WHERE revoked_at IS NOT NULL);

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

-- Fewer indexes for every event to keep up to date.
--
-- events_pending repeated the unique index on (installation_id, sequence)
-- for pending rows only; the claim's "no earlier pending event" check reads
-- the unique index as well.
DROP INDEX events_pending;

-- events_app served one query, the events `webhooks enable` sends again:
-- those of an app that are disabled. Indexing only those keeps every event
-- written or delivered out of it.
DROP INDEX events_app;
CREATE INDEX events_disabled ON events (app_id) WHERE delivery = 'disabled';

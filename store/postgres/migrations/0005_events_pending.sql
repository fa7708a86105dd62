-- events_pending repeated the unique index on (installation_id, sequence)
-- for pending rows only; the claim's "no earlier pending event" check reads
-- the unique index as well, and every event written or delivered paid for
-- the second one.
DROP INDEX events_pending;

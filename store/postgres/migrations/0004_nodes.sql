-- Several nodes: which dispatcher made each attempt, and rate limits that
-- every node shares.
ALTER TABLE webhook_attempts ADD COLUMN dispatcher TEXT NOT NULL DEFAULT '';

CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat BIGINT NOT NULL -- GCRA's theoretical arrival time, Unix ms
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);

-- The webhook outbox: each event's delivery state and lease, the delivery
-- log, and endpoints disabled by 410 Gone.
ALTER TABLE events ADD COLUMN delivery TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
UPDATE events SET next_attempt_at = created_at;
CREATE INDEX events_due ON events (next_attempt_at, id) WHERE delivery = 'pending';
CREATE INDEX events_pending ON events (installation_id, sequence) WHERE delivery = 'pending';
CREATE INDEX events_app ON events (app_id, delivery);

CREATE TABLE webhook_attempts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    TEXT NOT NULL REFERENCES events (id),
    event_type  TEXT NOT NULL,
    app_id      TEXT NOT NULL,
    number      INTEGER NOT NULL,
    url         TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    error       TEXT NOT NULL,
    response    TEXT NOT NULL,
    latency_us  BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    next_at     BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_app ON webhook_attempts (app_id, id);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id);

CREATE TABLE webhook_disabled (
    app_id      TEXT NOT NULL REFERENCES apps (id),
    url         TEXT NOT NULL,
    disabled_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, url)
);

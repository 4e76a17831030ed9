-- Webhooks: other servers subscribed to a board's change log. Each is a subscriber with a
-- saved position (`delivered_seq`), like a browser's `since`, kept here so that delivery
-- survives restarts and moves between replicas.
CREATE TABLE webhooks (
    id              TEXT    PRIMARY KEY,
    board_id        TEXT    NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    url             TEXT    NOT NULL,
    pattern         TEXT    NOT NULL,
    -- The signing key's bytes, base64. The server signs with it, so it is stored as it is
    -- (a hash could only verify); it is shown to the owner once, at creation.
    secret          TEXT    NOT NULL,
    -- After a rotation the previous key signs too (both signatures are sent) until then
    -- (Unix ms), so receivers can switch without losing a delivery.
    previous_secret TEXT,
    previous_until  BIGINT  NOT NULL DEFAULT 0,
    -- 'active', 'failing' (retrying) or 'disabled' (the receiver answered 410).
    status          TEXT    NOT NULL,
    -- The last seq the receiver answered 2xx for: delivery goes on after it.
    delivered_seq   BIGINT  NOT NULL,
    -- Failed attempts at the next seq, in a row (the backoff grows with them).
    failures        BIGINT  NOT NULL DEFAULT 0,
    -- Unix ms before which no attempt is made (backoff, Retry-After).
    next_attempt_at BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT,
    -- Which replica delivers it, until when: one at a time, taken over when it lapses.
    lease_owner     TEXT,
    lease_until     BIGINT  NOT NULL DEFAULT 0,
    -- How many attempts were ever made: numbers the delivery log.
    attempts        BIGINT  NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL
);

CREATE INDEX webhooks_by_board ON webhooks (board_id);

-- The delivery log: every attempt, its answer or error, and how long it took. Each
-- webhook keeps its newest entries only (see `store::webhooks`).
CREATE TABLE webhook_deliveries (
    webhook_id  TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    n           BIGINT  NOT NULL,
    seq         BIGINT  NOT NULL,
    attempt     BIGINT  NOT NULL,
    status      BIGINT,
    error       TEXT,
    duration_ms BIGINT  NOT NULL,
    at          BIGINT  NOT NULL,
    PRIMARY KEY (webhook_id, n)
);

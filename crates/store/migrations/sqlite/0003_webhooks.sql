-- 0003 webhooks (sqlite): outbound webhooks and the result of their last delivery.
-- Append-only: never edit after release; add a new migration instead.

-- secret is sealed (S8) and never leaves the server; events is a JSON array of event names,
-- prefixes ending in '.', or '*'. created_by is not a foreign key: a webhook outlives the
-- account that made it.
CREATE TABLE webhooks (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL,
    url              TEXT NOT NULL,
    secret           TEXT,
    events           TEXT NOT NULL,
    enabled          BOOLEAN NOT NULL DEFAULT 1,
    created_by       BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    last_delivery_at BIGINT,
    last_event       TEXT,
    last_ok          BOOLEAN,
    last_status      INTEGER,
    last_error       TEXT
);

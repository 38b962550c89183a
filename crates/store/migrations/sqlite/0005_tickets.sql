-- 0005 tickets (sqlite): single-use, short-lived credentials for WebSocket and camera upgrades.
-- Append-only: never edit after release; add a new migration instead.

-- Only the SHA-256 of a ticket is stored; using one deletes it in the same statement.
CREATE TABLE tickets (
    digest     TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    printer_id BIGINT REFERENCES printers(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX tickets_expiry ON tickets (expires_at);

-- 0002 identity (sqlite): sessions, API keys, the audit log and group scopes.
-- Append-only: never edit after release; add a new migration instead.

ALTER TABLE groups ADD COLUMN scope TEXT;

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_digest TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    secret_digest TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    printer_ids   TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- Append-only: the application never updates or deletes rows. actor_id is deliberately not a
-- foreign key: events outlive the accounts they name (actor_name keeps the name at the time).
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          BIGINT NOT NULL,
    actor_id    BIGINT,
    actor_name  TEXT NOT NULL,
    event       TEXT NOT NULL,
    target_type TEXT,
    target_id   TEXT,
    success     BOOLEAN NOT NULL DEFAULT 0,
    ip          TEXT,
    request_id  TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_event ON audit_events (event, at);
CREATE INDEX audit_events_actor ON audit_events (actor_name, at);

-- 0006 camera tokens (postgres): camera tokens are key rows of their own kind, so they share the
-- digest storage, owner cascade, printer restriction and revocation of API keys.
-- Append-only: never edit after release; add a new migration instead.

ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';

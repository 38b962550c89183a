-- 0009 ticket bounds (postgres): a ticket minted with an API key remembers the key, so redeeming it
-- re-derives the key's current bounds (scopes ∩ owner's rights ∩ printer list); a revoked key
-- takes its unredeemed tickets with it. A ticket minted by a browser session remembers the
-- session, so a socket opened with it ends when that session is signed out or revoked.
-- Append-only: never edit after release; add a new migration instead.

ALTER TABLE tickets ADD COLUMN api_key_id BIGINT REFERENCES api_keys(id) ON DELETE CASCADE;
ALTER TABLE tickets ADD COLUMN session_id BIGINT REFERENCES sessions(id) ON DELETE CASCADE;

-- 0009 ticket bounds (postgres): a ticket minted with an API key remembers the key, so redeeming it
-- re-derives the key's current bounds (scopes ∩ owner's rights ∩ printer list); a revoked key
-- takes its unredeemed tickets with it.
-- Append-only: never edit after release; add a new migration instead.

ALTER TABLE tickets ADD COLUMN api_key_id BIGINT REFERENCES api_keys(id) ON DELETE CASCADE;

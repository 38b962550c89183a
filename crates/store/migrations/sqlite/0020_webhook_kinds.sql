-- 0020 webhook kinds: how a webhook delivers — `printwarden` (signed JSON, the default and what
-- every webhook before this migration is), `ntfy` (a push to an ntfy topic, the secret an access
-- token) or `discord` (a Discord channel webhook). Append-only: never edit after release; add a
-- new migration instead.

-- For `discord` the URL carries the channel's token: the full URL is sealed into `secret` and
-- `url` keeps only a masked form to show.
ALTER TABLE webhooks ADD COLUMN kind TEXT NOT NULL DEFAULT 'printwarden';

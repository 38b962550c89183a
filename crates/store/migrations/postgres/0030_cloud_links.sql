-- 0030 Bambu Cloud links (issue 20): at most one Bambu account per printwarden user.
-- Append-only: never edit after release; add a new migration instead.

-- The tokens are sealed per row (contexts `cloud_link:<user>:access_token` and
-- `…:refresh_token`, registered in pw_store::sealed); the Bambu password is never stored.
CREATE TABLE cloud_links (
    user_id            BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    email              TEXT NOT NULL,
    region             TEXT NOT NULL CHECK (region IN ('global', 'china')),
    cloud_uid          TEXT,
    access_token       TEXT NOT NULL,
    refresh_token      TEXT,
    expires_at         BIGINT NOT NULL,
    refresh_expires_at BIGINT,
    linked_at          BIGINT NOT NULL,
    refreshed_at       BIGINT,
    state              TEXT NOT NULL DEFAULT 'linked' CHECK (state IN ('linked', 'expired')),
    last_error         TEXT
);
CREATE INDEX cloud_links_expiry ON cloud_links (expires_at);

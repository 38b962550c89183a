-- 0023 OpenID Connect sign-in (sqlite): providers, the accounts linked to them, and the
-- single-use state of sign-ins in flight (issue 19 items 4 and 5, SPEC S6).
-- Append-only: never edit after release; add a new migration instead.

-- A provider. client_secret is sealed (pw_store::sealed::OIDC_CLIENT_SECRET, bound to the row);
-- NULL for a public client. group_mappings is JSON [{claim_value, group_id}].
-- Auto-link (an existing account taken over by a matching email) is only safe when the email
-- is the standard claim AND verified: enforced in code and here (threat: a provider account
-- with an unverified or self-chosen address claiming the administrator's account).
CREATE TABLE oidc_providers (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    name                    TEXT NOT NULL,
    name_key                TEXT NOT NULL UNIQUE,
    issuer                  TEXT NOT NULL,
    client_id               TEXT NOT NULL,
    client_secret           TEXT,
    ca_cert_pem             TEXT,
    scopes                  TEXT NOT NULL,
    email_claim             TEXT NOT NULL DEFAULT 'email',
    groups_claim            TEXT,
    group_mappings          TEXT NOT NULL DEFAULT '[]',
    require_verified_email  BOOLEAN NOT NULL DEFAULT 1,
    auto_create             BOOLEAN NOT NULL DEFAULT 0,
    auto_link               BOOLEAN NOT NULL DEFAULT 0,
    enabled                 BOOLEAN NOT NULL DEFAULT 1,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL,
    CHECK (NOT auto_link OR (email_claim = 'email' AND require_verified_email))
);

-- An account linked to a provider's subject: one subject is one account, and an account has
-- at most one link per provider. Links go with their user or provider.
CREATE TABLE oidc_links (
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider_id   BIGINT NOT NULL REFERENCES oidc_providers(id) ON DELETE CASCADE,
    subject       TEXT NOT NULL,
    email         TEXT,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    PRIMARY KEY (user_id, provider_id),
    UNIQUE (provider_id, subject)
);

-- A sign-in (or link) in flight: found by the SHA-256 of its state, bound to the browser by
-- the SHA-256 of a cookie value, deleted by the statement that reads it (single use).
-- nonce and pkce_verifier are only useful until the callback, ten minutes at most.
CREATE TABLE oidc_states (
    state_digest    TEXT PRIMARY KEY,
    browser_digest  TEXT NOT NULL,
    provider_id     BIGINT NOT NULL REFERENCES oidc_providers(id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL,
    user_id         BIGINT REFERENCES users(id) ON DELETE CASCADE,
    nonce           TEXT NOT NULL,
    pkce_verifier   TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX oidc_states_expiry ON oidc_states (expires_at);

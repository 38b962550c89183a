-- 0024 passkeys (sqlite): WebAuthn credentials, the per-user handle and ceremony challenges (S4,
-- issue 19 item 6).
-- Append-only: never edit after release; add a new migration instead.

-- The random WebAuthn user handle of each user who registered a passkey: authenticators keep
-- it, so it must not be the user id (WebAuthn §14.6.1: no identifying data).
CREATE TABLE passkey_users (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    handle  TEXT NOT NULL UNIQUE
);

-- One row per registered passkey. credential_id and public_key are base64url (the id as the
-- browser sends it, the COSE key as registered); public keys are not secrets. sign_count is
-- the last accepted signature counter; backup_eligible is fixed at registration.
CREATE TABLE passkeys (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id   TEXT NOT NULL UNIQUE,
    public_key      TEXT NOT NULL,
    algorithm       BIGINT NOT NULL,
    name            TEXT NOT NULL,
    sign_count      BIGINT NOT NULL,
    backup_eligible BOOLEAN NOT NULL DEFAULT 0,
    backup_state    BOOLEAN NOT NULL DEFAULT 0,
    aaguid          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A ceremony under way: purpose 'register' (bound to user and session), 'login' (no user
-- yet) or 'mfa' (bound to the user of a pending second-factor challenge). Only the SHA-256 of
-- the browser's cookie value is stored; the row is deleted by the statement that uses it.
CREATE TABLE passkey_challenges (
    digest     TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    BIGINT REFERENCES users(id) ON DELETE CASCADE,
    session_id BIGINT,
    challenge  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX passkey_challenges_expiry ON passkey_challenges (expires_at);

-- 0007 second factors (sqlite): TOTP, backup codes, emailed codes, sign-in challenges,
-- password links and per-user mail preferences (S4, S5).
-- Append-only: never edit after release; add a new migration instead.

-- One row per user with a second factor (or an enrolment under way). The TOTP secrets are
-- sealed (S8); totp_last_step is the last accepted time step, so a code is accepted once.
CREATE TABLE user_mfa (
    user_id        BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    totp_secret    TEXT,
    totp_pending   TEXT,
    totp_last_step BIGINT,
    email_enabled  BOOLEAN NOT NULL DEFAULT 0,
    updated_at     BIGINT NOT NULL
);

-- Peppered digests of single-use backup codes; using one deletes its row.
CREATE TABLE backup_codes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    digest  TEXT NOT NULL
);
CREATE INDEX backup_codes_user ON backup_codes (user_id);

-- At most one live emailed code per user and purpose ('login' or 'enable'): a new send
-- replaces the old code. sends_at records each send for the 3-per-10-minutes limit.
CREATE TABLE email_codes (
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    digest     TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, purpose)
);
CREATE TABLE email_code_sends (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sent_at BIGINT NOT NULL
);
CREATE INDEX email_code_sends_user ON email_code_sends (user_id, sent_at);

-- The step between a correct password and the second factor: only the SHA-256 of the
-- cookie value is stored; success deletes the row in the same statement that reads it.
CREATE TABLE mfa_challenges (
    digest     TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX mfa_challenges_expiry ON mfa_challenges (expires_at);

-- Set-password and reset links (purpose 'set' or 'reset'): SHA-256 of the token only,
-- single use, one hour.
CREATE TABLE password_tokens (
    digest     TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX password_tokens_user ON password_tokens (user_id);

-- Print events a user asked to be mailed about (their own jobs only).
CREATE TABLE mail_preferences (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    event   TEXT NOT NULL,
    PRIMARY KEY (user_id, event)
);

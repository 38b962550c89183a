-- 0025 sign-in rules (sqlite): a group's sign-in requirement, what each session's sign-in proved,
-- and users' display names (issue 19).
-- Append-only: never edit after release; add a new migration instead.

-- What a group demands of its members' sign-ins; the strictest of a user's groups applies.
ALTER TABLE groups ADD COLUMN sign_in_requirement TEXT NOT NULL DEFAULT 'none'
    CHECK (sign_in_requirement IN ('none', 'two_factor', 'passkey'));

-- What the sign-in that opened the session proved. Sessions older than this column count as
-- the weakest (a requirement set later ends them anyway: it is a rights change).
ALTER TABLE sessions ADD COLUMN strength TEXT NOT NULL DEFAULT 'password'
    CHECK (strength IN ('password', 'two_factor', 'passkey'));

-- The name shown for a person (synced from the directory or the identity provider at each
-- sign-in, editable by local users). NULL = show the username.
ALTER TABLE users ADD COLUMN display_name TEXT;

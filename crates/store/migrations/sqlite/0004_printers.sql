-- 0004 printers (sqlite): locations, printers, and what their certificates are trusted as.
-- Append-only: never edit after release; add a new migration instead.

CREATE TABLE locations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- access_code is sealed (S8) and write-only. pinned_sha256 is the certificate trusted on
-- first use (hex); presented_sha256 is a different certificate the printer presented since,
-- waiting for a `printers:trust` approval. created_by is not a foreign key: printers outlive
-- the accounts that added them.
CREATE TABLE printers (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL,
    serial           TEXT NOT NULL UNIQUE,
    host             TEXT NOT NULL,
    mqtt_port        INTEGER NOT NULL,
    ftps_port        INTEGER NOT NULL,
    camera_port      INTEGER NOT NULL,
    model            TEXT NOT NULL DEFAULT '',
    location_id      BIGINT REFERENCES locations(id) ON DELETE SET NULL,
    access_code      TEXT NOT NULL,
    pinned_sha256    TEXT,
    presented_sha256 TEXT,
    created_by       BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX printers_location ON printers (location_id);

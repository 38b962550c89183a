-- 0015 queue (sqlite): the print queue (issue 16). Items wait for a printer; a dispatcher claims
-- one at a time (queued -> dispatching -> printing -> done | failed | cancelled).
-- Append-only: never edit after release; add a new migration instead.

-- source: library_file_id (NULL once the file is deleted) and/or archive_id (a reprint), with
-- the content's SHA-256 in the blob store kept on the item, so a deleted library file does not
-- break a queued reprint. target_kind is 'printer' (target_printer_id), 'model' (target_model,
-- as the printers spell it) or 'location' (target_location_id); a removed printer or location
-- leaves the item waiting with the reason in words. options is JSON (bed_levelling,
-- flow_calibration, timelapse, use_ams); ams_mapping is a JSON array of {slot, tray} or NULL.
-- created_by goes NULL when the user is deleted with items=keep; created_by_name keeps the
-- name. printer_id is the printer that claimed the item; run_archive_id and print_job_id link
-- the run it started. Times are unix ms.
CREATE TABLE queue_items (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    library_file_id    BIGINT REFERENCES library_files(id) ON DELETE SET NULL,
    archive_id         BIGINT REFERENCES archives(id) ON DELETE SET NULL,
    file_sha256        TEXT NOT NULL,
    file_name          TEXT NOT NULL,
    plate              BIGINT NOT NULL,
    target_kind        TEXT NOT NULL,
    target_printer_id  BIGINT REFERENCES printers(id) ON DELETE SET NULL,
    target_model       TEXT,
    target_location_id BIGINT REFERENCES locations(id) ON DELETE SET NULL,
    copies             BIGINT NOT NULL,
    copies_done        BIGINT NOT NULL DEFAULT 0,
    priority           BIGINT NOT NULL DEFAULT 0,
    position           BIGINT NOT NULL,
    not_before         BIGINT,
    options            TEXT NOT NULL DEFAULT '{}',
    ams_mapping        TEXT,
    state              TEXT NOT NULL,
    reason             TEXT,
    created_by         BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_by_name    TEXT,
    printer_id         BIGINT REFERENCES printers(id) ON DELETE SET NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at    BIGINT,
    claimed_at         BIGINT,
    run_archive_id     BIGINT REFERENCES archives(id) ON DELETE SET NULL,
    print_job_id       BIGINT REFERENCES print_jobs(id) ON DELETE SET NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    ended_at           BIGINT
);
-- The list and the dispatch order: priority (high first), then position, then id.
CREATE INDEX queue_items_order ON queue_items (priority DESC, position, id);
CREATE INDEX queue_items_queued ON queue_items (priority DESC, position, id) WHERE state = 'queued';
CREATE INDEX queue_items_owner ON queue_items (created_by, id);
CREATE INDEX queue_items_state ON queue_items (state, id);
CREATE INDEX queue_items_target_printer ON queue_items (target_printer_id, id);
-- One active item per printer, enforced by the database: two dispatchers (two threads, or two
-- processes on one database) can never both start an item on the same printer.
CREATE UNIQUE INDEX queue_items_active_printer ON queue_items (printer_id)
    WHERE state IN ('dispatching', 'printing');

-- Pauses: scope_key 'queue' pauses the whole queue, 'printer:<id>' one printer's lane (that row
-- goes with the printer). paused_by goes NULL when the user is deleted; paused_by_name stays.
CREATE TABLE queue_pauses (
    scope_key      TEXT PRIMARY KEY NOT NULL,
    printer_id     BIGINT REFERENCES printers(id) ON DELETE CASCADE,
    paused_by      BIGINT REFERENCES users(id) ON DELETE SET NULL,
    paused_by_name TEXT,
    paused_at      BIGINT NOT NULL
);

-- 0012 archives (sqlite): every print, started through printwarden or elsewhere, with how it
-- ended. Append-only: never edit after release; add a new migration instead.

-- outcome: 'printing' while the job runs, then 'finished', 'failed' or 'cancelled'.
-- source: 'printwarden' (started here, print_job_id links the print_jobs row) or 'elsewhere'
-- (slicer, SD card, cloud, or recorded by hand). started_by NULL = outside printwarden or the
-- account was deleted; started_by_name keeps the name. printer_id goes NULL when the printer is
-- removed; printer_name keeps it. job_key is the printer's job identity (file and job name) that
-- matches an open entry again after a reconnect or a restart. file_sha256 / thumbnail_sha256
-- are left NULL until the library's blob store keeps the printed file and its thumbnail.
CREATE TABLE archives (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    printer_id       BIGINT REFERENCES printers(id) ON DELETE SET NULL,
    printer_name     TEXT NOT NULL,
    file_name        TEXT NOT NULL,
    plate            BIGINT,
    job_key          TEXT,
    source           TEXT NOT NULL,
    started_by       BIGINT REFERENCES users(id) ON DELETE SET NULL,
    started_by_name  TEXT,
    print_job_id     BIGINT REFERENCES print_jobs(id) ON DELETE SET NULL,
    started_at       BIGINT NOT NULL,
    ended_at         BIGINT,
    duration_s       BIGINT,
    outcome          TEXT NOT NULL,
    error_code       TEXT,
    error            TEXT,
    filaments        TEXT NOT NULL DEFAULT '[]',
    notes            TEXT NOT NULL DEFAULT '',
    tags             TEXT NOT NULL DEFAULT '[]',
    rating           BIGINT,
    file_sha256      TEXT,
    thumbnail_sha256 TEXT,
    created_at       BIGINT NOT NULL
);
-- The list: newest first, filtered by printer, outcome or starter (keyset pages on
-- (started_at, id)).
CREATE INDEX archives_started ON archives (started_at, id);
CREATE INDEX archives_printer ON archives (printer_id, started_at, id);
CREATE INDEX archives_outcome ON archives (outcome, started_at, id);
CREATE INDEX archives_owner ON archives (started_by, started_at, id);
-- At most one open entry per printer, and a print job is archived once: a repeated report,
-- a reconnect or a restart cannot create a second entry.
CREATE UNIQUE INDEX archives_open ON archives (printer_id) WHERE outcome = 'printing';
CREATE UNIQUE INDEX archives_print_job ON archives (print_job_id) WHERE print_job_id IS NOT NULL;

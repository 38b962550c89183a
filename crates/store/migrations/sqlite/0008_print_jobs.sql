-- 0008 print jobs (sqlite): the prints started through printwarden and who started them, so
-- the starter can be told how they end (S5 print mails) and later the queue and archive.
-- Append-only: never edit after release; add a new migration instead.

-- outcome is NULL while the job runs, then 'completed', 'failed', 'stopped' or 'replaced'.
CREATE TABLE print_jobs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    printer_id BIGINT NOT NULL REFERENCES printers(id) ON DELETE CASCADE,
    started_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    file_name  TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT,
    outcome    TEXT
);
CREATE INDEX print_jobs_printer ON print_jobs (printer_id, ended_at);

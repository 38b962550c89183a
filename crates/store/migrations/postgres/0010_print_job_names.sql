-- 0010 print job names (postgres): a print job keeps the name of who started it, so "started by"
-- still reads right after that account is deleted (started_by then goes NULL).
-- Append-only: never edit after release; add a new migration instead.

ALTER TABLE print_jobs ADD COLUMN started_by_name TEXT;

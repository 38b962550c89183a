-- 0013 print job files (postgres): what a print started through printwarden printed — the library
-- file (NULL once deleted, or when the file came straight from the request), the content's
-- SHA-256 in the blob store, the plate and the task id sent with the start command — so the
-- archive entry links the file, its thumbnail and its filament, and the job is told apart
-- from a second run of the same file.
-- Append-only: never edit after release; add a new migration instead.

ALTER TABLE print_jobs ADD COLUMN library_file_id BIGINT REFERENCES library_files(id) ON DELETE SET NULL;
ALTER TABLE print_jobs ADD COLUMN file_sha256 TEXT;
ALTER TABLE print_jobs ADD COLUMN plate BIGINT;
ALTER TABLE print_jobs ADD COLUMN task_id TEXT;

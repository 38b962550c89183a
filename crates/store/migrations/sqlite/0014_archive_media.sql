-- 0014 archive media (sqlite): what an archive entry keeps besides its facts — the printer's job
-- id (task_id, or subtask_id when the task is "0"), which tells two runs of one file apart; the
-- library file it was printed from (NULL once deleted, or for a print started elsewhere); the
-- end-of-print camera frame (snapshot_sha256); the plate's filament use read from the printed
-- file (file_filaments, JSON); and the photos users add. Every *_sha256 names a blob in the
-- content store: a blob is deleted only when no row of library_files, archives (file,
-- thumbnail, snapshot), archive_photos or an open print_jobs row names it any more, so each of
-- those columns is indexed for that count.
-- Append-only: never edit after release; add a new migration instead.

ALTER TABLE archives ADD COLUMN job_id TEXT;
ALTER TABLE archives ADD COLUMN library_file_id BIGINT REFERENCES library_files(id) ON DELETE SET NULL;
ALTER TABLE archives ADD COLUMN snapshot_sha256 TEXT;
ALTER TABLE archives ADD COLUMN file_filaments TEXT;
CREATE INDEX archives_file_sha256 ON archives (file_sha256);
CREATE INDEX archives_thumbnail_sha256 ON archives (thumbnail_sha256);
CREATE INDEX archives_snapshot_sha256 ON archives (snapshot_sha256);
CREATE INDEX print_jobs_file_sha256 ON print_jobs (file_sha256);

-- kind: 'jpeg', 'png' or 'webp', decided from the content's first bytes. added_by goes NULL
-- when the account is deleted; added_by_name keeps the name. A photo goes with its entry.
CREATE TABLE archive_photos (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    archive_id    BIGINT NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
    sha256        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    size          BIGINT NOT NULL,
    added_by      BIGINT REFERENCES users(id) ON DELETE SET NULL,
    added_by_name TEXT,
    added_at      BIGINT NOT NULL
);
CREATE INDEX archive_photos_archive ON archive_photos (archive_id, id);
CREATE INDEX archive_photos_sha256 ON archive_photos (sha256);

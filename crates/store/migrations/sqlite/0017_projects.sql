-- 0017 projects (sqlite): named sets of library files, queue items and archive entries (issue 16,
-- item 4), e.g. an order of 40 parts, with notes and a due date.
-- Append-only: never edit after release; add a new migration instead.

-- Projects are shared team objects (projects:* rights, no owner); created_by goes NULL when the
-- account is deleted, created_by_name keeps the name. due is a calendar date (YYYY-MM-DD) or
-- NULL. Times are unix ms.
CREATE TABLE projects (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL,
    notes           TEXT NOT NULL DEFAULT '',
    due             TEXT,
    created_by      BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_by_name TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- Members, one table per kind so each row goes with its member (ON DELETE CASCADE): a deleted
-- file, queue item or archive entry leaves no dangling member. copies on a library file is the
-- number of prints the project plans of it (NULL: a reference, e.g. a spare part, not counted).
CREATE TABLE project_files (
    project_id      BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    library_file_id BIGINT NOT NULL REFERENCES library_files(id) ON DELETE CASCADE,
    copies          BIGINT,
    added_at        BIGINT NOT NULL,
    PRIMARY KEY (project_id, library_file_id)
);
CREATE INDEX project_files_file ON project_files (library_file_id);

CREATE TABLE project_queue_items (
    project_id    BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    queue_item_id BIGINT NOT NULL REFERENCES queue_items(id) ON DELETE CASCADE,
    added_at      BIGINT NOT NULL,
    PRIMARY KEY (project_id, queue_item_id)
);
CREATE INDEX project_queue_items_item ON project_queue_items (queue_item_id);

CREATE TABLE project_archives (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    archive_id BIGINT NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (project_id, archive_id)
);
CREATE INDEX project_archives_entry ON project_archives (archive_id);

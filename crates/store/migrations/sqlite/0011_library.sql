-- 0011 library (sqlite): the file library (issue 15). Folders form a tree without owners; files
-- name their content by SHA-256 (the bytes live once in the blob store under the data
-- directory, not in the database) and their uploader, whose name stays when the account goes.
-- Append-only: never edit after release; add a new migration instead.

-- A folder refuses deletion while it holds files or folders (ON DELETE RESTRICT below): the
-- application says so in words first.
CREATE TABLE library_folders (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id  BIGINT REFERENCES library_folders(id) ON DELETE RESTRICT,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX library_folders_parent ON library_folders (parent_id, name_key);

-- kind is 'gcode.3mf', '3mf', 'gcode' or 'stl'; tags is a JSON array of strings and tags_key
-- their lower-cased text for search; metadata is the parsed facts as JSON (plates, filaments,
-- thumbnail members). owner_id goes NULL when the uploader is deleted with items=keep.
CREATE TABLE library_files (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    folder_id  BIGINT REFERENCES library_folders(id) ON DELETE RESTRICT,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    owner_id   BIGINT REFERENCES users(id) ON DELETE SET NULL,
    owner_name TEXT,
    tags       TEXT NOT NULL,
    tags_key   TEXT NOT NULL,
    metadata   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX library_files_sha256 ON library_files (sha256);
CREATE INDEX library_files_folder ON library_files (folder_id, name_key, id);
CREATE INDEX library_files_owner ON library_files (owner_id, created_at, id);
CREATE INDEX library_files_name ON library_files (name_key, id);
CREATE INDEX library_files_created ON library_files (created_at, id);
CREATE INDEX library_files_size ON library_files (size, id);

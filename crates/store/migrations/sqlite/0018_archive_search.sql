-- 0018 archive search (sqlite): the archive list's text filter (`?q=`) without reading every
-- entry. Append-only: never edit after release; add a new migration instead.

-- archives_search: an FTS5 table with the trigram tokenizer over each entry's file name and
-- notes, ASCII-lowercased (SQLite's lower(), the same fold as the LIKE filter and as
-- PostgreSQL's lower(... COLLATE "C")), case_sensitive 1 so a phrase query is exactly a
-- substring match of the lowered text: identical results to `lower(column) LIKE '%q%'`.
-- rowid = archives.id. Kept in sync by the triggers below (entries are opened, ended,
-- recorded by hand, given notes by PATCH, deleted, purged).
-- The printer name is not in it: every entry repeats one of a few names, so its trigrams
-- would be in nearly every row and make each query that shares one read the whole index.
-- archives_search_printers holds the distinct printer names instead (a handful of rows; names
-- are never removed, a stale one only makes the search take the walk).
CREATE VIRTUAL TABLE archives_search USING fts5(
    file_name, notes, tokenize = 'trigram case_sensitive 1'
);
CREATE TABLE archives_search_printers (
    name TEXT PRIMARY KEY NOT NULL
);

CREATE TRIGGER archives_search_insert AFTER INSERT ON archives BEGIN
    INSERT INTO archives_search (rowid, file_name, notes)
        VALUES (new.id, lower(new.file_name), lower(new.notes));
    INSERT OR IGNORE INTO archives_search_printers (name) VALUES (new.printer_name);
END;
CREATE TRIGGER archives_search_update AFTER UPDATE OF file_name, notes ON archives BEGIN
    UPDATE archives_search SET file_name = lower(new.file_name), notes = lower(new.notes)
        WHERE rowid = new.id;
END;
CREATE TRIGGER archives_search_printer AFTER UPDATE OF printer_name ON archives BEGIN
    INSERT OR IGNORE INTO archives_search_printers (name) VALUES (new.printer_name);
END;
CREATE TRIGGER archives_search_delete AFTER DELETE ON archives BEGIN
    DELETE FROM archives_search WHERE rowid = old.id;
END;

-- The entries recorded before this migration.
INSERT INTO archives_search (rowid, file_name, notes)
    SELECT id, lower(file_name), lower(notes) FROM archives;
INSERT OR IGNORE INTO archives_search_printers (name) SELECT DISTINCT printer_name FROM archives;

-- 0018 archive search (postgres): the archive list's text filter (`?q=`) without reading every
-- entry. Append-only: never edit after release; add a new migration instead.

-- GIN trigram indexes (pg_trgm) on the expressions the filter compares:
-- lower(column COLLATE "C") — ASCII-only lowercasing, the same fold as SQLite's lower(), so
-- both backends answer the same entries — for the file name, the printer name and the notes.
-- A `LIKE '%piece%'` with 3 or more characters is answered from them; the LIKE itself is
-- still evaluated (the index is lossy), so results do not depend on the index existing.
-- fastupdate off: entries are written once per print, read on every search; GIN's pending list
-- (up to 4 MB of unmerged entries until a vacuum) is read in full by every scan — 26 ms for a
-- search matching nothing after 100,000 entries were added, 0.3 ms once merged.
--
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension since PostgreSQL 13: the
-- database owner may create it without being a superuser. Where it cannot be created (contrib
-- not installed, or an account without CREATE on the database), this migration still applies
-- — without the indexes, with a warning — so an upgrade never stops the server: the search
-- gives the same answers, only reading every entry. docs/OPERATIONS.md has the statements to
-- add the indexes later. The operator class is named through the schema the extension lives
-- in (it may have been installed elsewhere before).
DO $$
DECLARE
    trgm_schema text;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'printwarden: the pg_trgm extension could not be created (%); the archive text search works without its index but reads every entry (docs/OPERATIONS.md: archive search index)', SQLERRM;
        RETURN;
    END;
    SELECT n.nspname INTO trgm_schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    EXECUTE format('CREATE INDEX archives_search_file ON archives USING gin '
        '(lower(file_name COLLATE "C") %I.gin_trgm_ops) WITH (fastupdate = off)', trgm_schema);
    EXECUTE format('CREATE INDEX archives_search_printer ON archives USING gin '
        '(lower(printer_name COLLATE "C") %I.gin_trgm_ops) WITH (fastupdate = off)', trgm_schema);
    EXECUTE format('CREATE INDEX archives_search_notes ON archives USING gin '
        '(lower(notes COLLATE "C") %I.gin_trgm_ops) WITH (fastupdate = off)', trgm_schema);
END
$$;
-- Statistics on the indexed expressions now, so the planner can tell a rare piece of text
-- (use the indexes) from a common one (walk the newest entries) before autovacuum runs.
ANALYZE archives;

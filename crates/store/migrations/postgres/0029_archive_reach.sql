-- 0029 archive_reach (postgres): the archive's key indexes also carry the columns of the visibility
-- filter (issue 15: a reader scoped to some printers searching 1–2 characters, 100,000 entries,
-- p99 within 20 ms; `scripts/bench.sh archive`).
-- Append-only: never edit after release; add a new migration instead.

-- A list page searching a text of 1–2 characters first finds the end of its window: the
-- 5,000th entry the reader may see (store::farm::archive::Store::archives_list). For a reader
-- scoped to some printers, or to their own prints on some printers, that walk read every
-- entry's row for its printer and starter — 33,000 rows for a reader who sees 15 % of the
-- archive. With both columns in the walked index the walk never leaves the index.
DROP INDEX archives_started;
CREATE INDEX archives_started ON archives (started_at, id, printer_id, started_by);
DROP INDEX archives_owner;
CREATE INDEX archives_owner ON archives (started_by, started_at, id, printer_id);

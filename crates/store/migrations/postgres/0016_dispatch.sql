-- 0016 dispatch (postgres): the queue's dispatcher (issue 16 items 2 and 3).
-- Append-only: never edit after release; add a new migration instead.

-- A printer's plate: needs_clearing is set when a print on it ends (finished, failed or
-- stopped) and cleared by a person (POST /api/v1/printers/{id}/plate-cleared); the dispatcher
-- starts nothing on a printer whose plate needs clearing unless waived (waived = 1, a printer
-- setting). Persisted so a restart does not forget a dirty plate. No row = clear, not waived.
CREATE TABLE printer_plates (
    printer_id      BIGINT PRIMARY KEY NOT NULL REFERENCES printers(id) ON DELETE CASCADE,
    needs_clearing  BIGINT NOT NULL DEFAULT 0,
    waived          BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL
);

-- 0022 queue_claim (postgres): indexes for the dispatcher's claim query (issue 16: a dispatch decision
-- with 1,000 printers and 10,000 queued items within 10 ms p99; `scripts/bench.sh dispatch`).
-- Append-only: never edit after release; add a new migration instead.

-- The claim looks for a printer's next item once per target kind — items for the printer, for
-- its model, for its location — each in dispatch order (priority high first, then position,
-- then id), and keeps the best of the three (store::farm::queue::claim_next_queue_item). With
-- only the whole queue's order index, a printer that nothing targets read every queued item to
-- conclude "nothing"; with one ordered index per target kind, each look stops at its first
-- startable item and a look that finds nothing reads nothing.
CREATE INDEX queue_items_next_for_printer ON queue_items (target_printer_id, priority DESC, position, id)
    WHERE state = 'queued';
CREATE INDEX queue_items_next_for_model ON queue_items (target_model, priority DESC, position, id)
    WHERE state = 'queued';
CREATE INDEX queue_items_next_for_location ON queue_items (target_location_id, priority DESC, position, id)
    WHERE state = 'queued';
-- Printer groups (migration 0021): one ordered walk per group the free printer is in.
CREATE INDEX queue_items_next_for_group ON queue_items (target_group_id, priority DESC, position, id)
    WHERE state = 'queued';

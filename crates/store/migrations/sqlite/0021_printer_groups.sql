-- 0021 printer groups (sqlite): named sets of printers as a queue target, and a location's
-- plate-clear waiver (issue 16 items 1 and 2).
-- Append-only: never edit after release; add a new migration instead.

-- A printer group ("PLA farm", "Big plates"): a name unique case-insensitively (name_key) and
-- its members; a printer may be in several groups. Members go with their printer or group.
CREATE TABLE printer_groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE TABLE printer_group_members (
    group_id    BIGINT NOT NULL REFERENCES printer_groups(id) ON DELETE CASCADE,
    printer_id  BIGINT NOT NULL REFERENCES printers(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, printer_id)
);
-- The dispatcher's claim asks "which groups is this printer in": by printer first.
CREATE INDEX printer_group_members_printer ON printer_group_members (printer_id, group_id);

-- A queue item may target a group (target_kind 'group'). Deleting the group leaves the item
-- queued with target_group_id NULL and the reason in words (set by the deletion): it waits,
-- never taken by another printer, until someone chooses another target.
ALTER TABLE queue_items ADD COLUMN target_group_id BIGINT REFERENCES printer_groups(id) ON DELETE SET NULL;
CREATE INDEX queue_items_target_group ON queue_items (target_group_id, id);

-- A location can waive the plate-clear confirmation for every printer standing in it (the
-- effective waiver is the printer's own OR its location's).
ALTER TABLE locations ADD COLUMN waive_plate_clear BIGINT NOT NULL DEFAULT 0;

-- Rollback Phase 3A (the runbook has none: its schema change is additive). Drops what 3A
-- added; 3B and 3C are rolled back first, so the columns hold nothing by then.
DROP INDEX IF EXISTS workflows_definition_source_idx;
ALTER TABLE workflows DROP COLUMN IF EXISTS jtbd_code;
ALTER TABLE workflows DROP COLUMN IF EXISTS jtbd_id;

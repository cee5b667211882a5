-- Migration 3A (runbook script migration_3a_enhance_workflows_schema.sql, 2 min): prepare
-- workflows for the dh_workflow migration and the Medical Affairs import. Adds the missing
-- columns; does NOT modify the existing 141 records: the new columns are nullable and have
-- no default, so no row is rewritten. Idempotent (IF NOT EXISTS throughout).
--   jtbd_id    uuid        -> jtbd_library.id         the JTBD link, UUID form
--   jtbd_code  varchar(32) -> jtbd_library.jtbd_code  the JTBD link, VARCHAR form
--   an index on definition->>'source', which the checks and the rollbacks filter on
-- The other dh_workflow columns go into workflows.definition (JSONB), which exists.
-- migrun:allow constraint-missing-not-valid the runbook's 15-minute window with the application in maintenance; workflows holds a few hundred rows; the new column is all NULL
ALTER TABLE workflows
  ADD COLUMN IF NOT EXISTS jtbd_id uuid
    CONSTRAINT workflows_jtbd_id_fkey REFERENCES jtbd_library (id);

-- migrun:allow constraint-missing-not-valid the runbook's 15-minute window with the application in maintenance; workflows holds a few hundred rows; the new column is all NULL
ALTER TABLE workflows
  ADD COLUMN IF NOT EXISTS jtbd_code varchar(32)
    CONSTRAINT workflows_jtbd_code_fkey REFERENCES jtbd_library (jtbd_code);

-- migrun:allow require-concurrent-index the runbook's 15-minute window with the application in maintenance; workflows holds a few hundred rows
CREATE INDEX IF NOT EXISTS workflows_definition_source_idx ON workflows ((definition ->> 'source'));

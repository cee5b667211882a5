-- Rollback Phase 1 (runbook): remove strategic_priority_id from the JTBDs, then delete the
-- strategic priorities. Limited to SP01-SP07, the rows this migration made (before it, no
-- JTBD was linked and the table was empty, so this is the runbook's rollback exactly).
UPDATE jtbd_library
SET strategic_priority_id = NULL
WHERE strategic_priority_id IN (SELECT id FROM strategic_priorities
                                WHERE code IN ('SP01', 'SP02', 'SP03', 'SP04', 'SP05', 'SP06', 'SP07'));

DELETE FROM strategic_priorities
WHERE code IN ('SP01', 'SP02', 'SP03', 'SP04', 'SP05', 'SP06', 'SP07');

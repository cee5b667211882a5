-- Rollback Phase 2 (runbook): delete the migrated tools.
DELETE FROM tools WHERE id IN (SELECT id FROM dh_tool);

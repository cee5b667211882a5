-- Rollback Phase 4 (runbook): delete all migrated tasks.
DELETE FROM tasks WHERE id IN (SELECT id FROM dh_task);

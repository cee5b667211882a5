-- Rollback Phase 3 (runbook), first half: delete the migrated dh_workflows.
DELETE FROM workflows WHERE definition ->> 'source' = 'dh_workflow';

-- Rollback Phase 3 (runbook), second half: delete the imported Medical Affairs workflows.
DELETE FROM workflows WHERE definition ->> 'source' LIKE '%Operational Library%';

-- 03_rollback.sql: undo the backfill: every entry back to no workspace, the system
-- entries back to unshared, the orphan flags gone. Shared content was never given a
-- workspace, so it stays NULL (the runbook: "maintains NULL for shared content").

UPDATE knowledge_base_entries SET workspace_id = NULL WHERE workspace_id IS NOT NULL;

UPDATE knowledge_base_entries
SET is_shared = false, metadata = metadata - 'shared_reason'
WHERE metadata ->> 'shared_reason' = 'system content';

UPDATE knowledge_base_entries
SET metadata = metadata - 'orphaned' - 'orphan_reason'
WHERE metadata ? 'orphaned';

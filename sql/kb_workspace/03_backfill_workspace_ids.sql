-- 03_backfill_workspace_ids.sql: give existing KB entries their workspace, from their
-- creator's workspace membership (runbook step 3).
--   shared/global content keeps workspace_id NULL: entries already marked shared, and
--     system entries (no creator), which are now marked shared explicitly
--   user content goes to the creator's first workspace (earliest membership)
--   orphans (creator deleted, or in no workspace) keep workspace_id NULL but are NOT
--     shared: under RLS nobody but the service role sees them; they are flagged in
--     metadata (orphaned, orphan_reason) for someone to assign or delete
-- Idempotent: each statement touches only rows no earlier run decided.
-- Fixture numbers: 34 assigned (ws-a 16, ws-b 10, ws-c 8), 8 shared, 4 orphans.

-- pre-verification (the runbook's "pre/post verification queries"): the playbook's
-- preflight counts 46 entries, 8 shared candidates and 4 orphan candidates

UPDATE knowledge_base_entries
SET is_shared = true,
    metadata = metadata || '{"shared_reason": "system content"}'
WHERE workspace_id IS NULL AND created_by IS NULL AND NOT is_shared;

WITH home AS (
  SELECT DISTINCT ON (user_id) user_id, workspace_id
  FROM workspace_members
  ORDER BY user_id, joined_at, workspace_id
)
UPDATE knowledge_base_entries e
SET workspace_id = h.workspace_id
FROM home h
WHERE e.created_by = h.user_id AND e.workspace_id IS NULL AND NOT e.is_shared;

UPDATE knowledge_base_entries e
SET metadata = e.metadata || jsonb_build_object(
      'orphaned', true,
      'orphan_reason', CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.id = e.created_by)
                            THEN 'creator has no workspace'
                            ELSE 'creator no longer exists' END)
WHERE e.workspace_id IS NULL AND NOT e.is_shared AND NOT (e.metadata ? 'orphaned');

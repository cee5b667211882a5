-- 02_workspace_scoping.sql: the structural migration (runbook step 2, "Run Structural
-- Migrations"): knowledge_base_entries gets workspace_id and section_id, the kb_sections
-- table appears, and row-level security scopes both to the reader's workspaces.
-- The old policy kb_entries_authenticated_read let every signed-in user read every
-- workspace's entries; it goes. Policies after: 4 on entries + 1 on sections = 5.
-- Foreign keys: 2 -> 5. Idempotent. Runbook estimate: 2-5 minutes.

CREATE TABLE IF NOT EXISTS kb_sections (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  slug         text NOT NULL,
  name         text NOT NULL,
  icon         text,
  description  text,
  position     int NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (workspace_id, slug)
);

-- NULL workspace_id = shared/global content (03 decides which entries those are)
-- migrun:allow constraint-missing-not-valid the runbook's maintenance window: the application is down and knowledge_base_entries holds a few hundred rows; the new columns are all NULL
ALTER TABLE knowledge_base_entries
  ADD COLUMN IF NOT EXISTS workspace_id uuid REFERENCES workspaces (id) ON DELETE CASCADE,
  ADD COLUMN IF NOT EXISTS section_id uuid REFERENCES kb_sections (id) ON DELETE SET NULL;

-- migrun:allow require-concurrent-index the runbook's maintenance window: the application is down and knowledge_base_entries holds a few hundred rows
CREATE INDEX IF NOT EXISTS kb_entries_workspace_id_idx ON knowledge_base_entries (workspace_id);

-- is the request's user (auth.uid()) a member of this workspace? SECURITY DEFINER so that
-- the policies need no grant on workspace_members; search_path pinned for that reason.
CREATE OR REPLACE FUNCTION public.is_workspace_member(ws uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ SELECT EXISTS (SELECT 1 FROM workspace_members m
                       WHERE m.workspace_id = ws AND m.user_id = auth.uid()) $$;

ALTER TABLE knowledge_base_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE kb_sections ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS kb_entries_authenticated_read ON knowledge_base_entries;

-- read: your workspaces' entries, and shared content (NULL workspace AND is_shared; an
-- orphan has a NULL workspace but is not shared, so nobody reads it through the API)
DROP POLICY IF EXISTS kb_entries_select ON knowledge_base_entries;
CREATE POLICY kb_entries_select ON knowledge_base_entries FOR SELECT
  USING (is_workspace_member(workspace_id) OR (workspace_id IS NULL AND is_shared));

DROP POLICY IF EXISTS kb_entries_insert ON knowledge_base_entries;
CREATE POLICY kb_entries_insert ON knowledge_base_entries FOR INSERT
  WITH CHECK (is_workspace_member(workspace_id));

DROP POLICY IF EXISTS kb_entries_update ON knowledge_base_entries;
CREATE POLICY kb_entries_update ON knowledge_base_entries FOR UPDATE
  USING (is_workspace_member(workspace_id)) WITH CHECK (is_workspace_member(workspace_id));

DROP POLICY IF EXISTS kb_entries_delete ON knowledge_base_entries;
CREATE POLICY kb_entries_delete ON knowledge_base_entries FOR DELETE
  USING (is_workspace_member(workspace_id));

DROP POLICY IF EXISTS kb_sections_member ON kb_sections;
CREATE POLICY kb_sections_member ON kb_sections
  USING (is_workspace_member(workspace_id)) WITH CHECK (is_workspace_member(workspace_id));

-- 02_rollback.sql: undo 02_workspace_scoping.sql: the KB back to global, with its old
-- read policy. Runs after 03's rollback has emptied workspace_id (reverse order).

DROP POLICY IF EXISTS kb_entries_select ON knowledge_base_entries;
DROP POLICY IF EXISTS kb_entries_insert ON knowledge_base_entries;
DROP POLICY IF EXISTS kb_entries_update ON knowledge_base_entries;
DROP POLICY IF EXISTS kb_entries_delete ON knowledge_base_entries;

DROP POLICY IF EXISTS kb_entries_authenticated_read ON knowledge_base_entries;
CREATE POLICY kb_entries_authenticated_read ON knowledge_base_entries FOR SELECT
  USING (auth.uid() IS NOT NULL);

ALTER TABLE knowledge_base_entries
  DROP COLUMN IF EXISTS section_id,
  DROP COLUMN IF EXISTS workspace_id;

DROP TABLE IF EXISTS kb_sections;
DROP FUNCTION IF EXISTS public.is_workspace_member(uuid);

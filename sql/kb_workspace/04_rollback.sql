-- 04_rollback.sql: undo the section seeding: the view, the indexes, the filing, the
-- sections (kb_sections itself belongs to 02).

DROP VIEW IF EXISTS kb_section_overview;
DROP INDEX IF EXISTS kb_entries_workspace_section_idx;
DROP INDEX IF EXISTS kb_sections_workspace_position_idx;
UPDATE knowledge_base_entries SET section_id = NULL WHERE section_id IS NOT NULL;
DELETE FROM kb_sections;

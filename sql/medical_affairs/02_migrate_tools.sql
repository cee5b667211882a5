-- Migration 2 (runbook script migration_2_migrate_tools.py, 3 min): copy the 150 dh_tool
-- records to tools. dh_tool.id -> tools.id, dh_tool.name -> tools.name, every other
-- dh_tool column -> tools.metadata (JSONB). Expected: 150 tools. Idempotent.
INSERT INTO tools (id, name, metadata, created_at)
SELECT d.id, d.name, to_jsonb(d) - 'id' - 'name', d.created_at
FROM dh_tool AS d
ON CONFLICT (id) DO NOTHING;

-- Migration 4 (runbook script migration_4_migrate_tasks.py, 8 min): copy the 343 dh_task
-- records to tasks. dh_task.id -> tasks.id; dh_task.workflow_id -> tasks.workflow_id,
-- looked up among the migrated workflows (definition->>'source' = 'dh_workflow', matched
-- on the dh_workflow id that 3B kept in definition): a task whose workflow did not arrive
-- gets NULL and the NOT NULL constraint stops the phase. tool_id now points at tools
-- (migrated in phase 2). Every dh_task column is kept in tasks.metadata (JSONB).
-- Expected: 343 tasks over the 116 migrated workflows. Idempotent.
INSERT INTO tasks (id, workflow_id, tool_id, name, position, metadata, created_at)
SELECT t.id,
       (SELECT w.id
        FROM workflows AS w
        WHERE w.definition ->> 'source' = 'dh_workflow'
          AND w.definition ->> 'id' = t.workflow_id::text),
       t.tool_id,
       t.name,
       t.position,
       to_jsonb(t) || jsonb_build_object('source', 'dh_task'),
       t.created_at
FROM dh_task AS t
ON CONFLICT (id) DO NOTHING;

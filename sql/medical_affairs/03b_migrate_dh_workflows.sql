-- Migration 3B (runbook script migration_3b_migrate_dh_workflows.py, 10 min): copy the 116
-- dh_workflow records to workflows. dh_workflow.* -> workflows.definition (JSONB): every
-- column is kept there, the links to dh_use_case and dh_domain (use_case_id, domain_id)
-- included, plus "source": "dh_workflow". The id is kept, so dh_task.workflow_id still
-- names the same workflow. Expected: 141 + 116 = 257 workflows. Idempotent.
INSERT INTO workflows (id, name, description, definition, created_at, updated_at)
SELECT d.id, d.name, d.description,
       to_jsonb(d) || jsonb_build_object('source', 'dh_workflow'),
       d.created_at, d.created_at
FROM dh_workflow AS d
ON CONFLICT (id) DO NOTHING;

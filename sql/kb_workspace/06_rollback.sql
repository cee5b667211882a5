-- 06_rollback.sql: take back this database's grants to the smoke-test roles. The roles
-- themselves stay: they are cluster-wide, another database may use them, and DROP ROLE
-- would fail while any database still grants them something.

DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['kb_smoke_alpha', 'kb_smoke_beta'] LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('REVOKE ALL ON knowledge_base_entries, kb_sections FROM %I', r);
      EXECUTE format('REVOKE ALL ON SEQUENCE knowledge_base_entries_id_seq FROM %I', r);
      IF to_regclass('public.kb_section_overview') IS NOT NULL THEN
        EXECUTE format('REVOKE ALL ON kb_section_overview FROM %I', r);
      END IF;
    END IF;
  END LOOP;
END
$$;

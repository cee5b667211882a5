-- 06_smoke_test_roles.sql: what the smoke tests need to test RLS "for real" (the
-- package: "Test RLS thoroughly before declaring success"): two plain login roles, not
-- superuser, no BYPASSRLS, that the tests SET ROLE to, as PostgREST does for a request.
-- Roles are cluster-wide: created only when missing (other databases may share them).
-- Grants are this database's: read, add and edit KB entries (RLS decides which rows; the
-- package: "new KB entries can be created and edited"), read sections.
-- No password: they cannot log in from outside until someone gives them one.

DO $$
BEGIN
  CREATE ROLE kb_smoke_alpha LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  RAISE NOTICE 'role kb_smoke_alpha already exists';
END
$$;

DO $$
BEGIN
  CREATE ROLE kb_smoke_beta LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  RAISE NOTICE 'role kb_smoke_beta already exists';
END
$$;

GRANT SELECT, INSERT, UPDATE ON knowledge_base_entries TO kb_smoke_alpha, kb_smoke_beta;
GRANT USAGE ON SEQUENCE knowledge_base_entries_id_seq TO kb_smoke_alpha, kb_smoke_beta;
GRANT SELECT ON kb_sections, kb_section_overview TO kb_smoke_alpha, kb_smoke_beta;

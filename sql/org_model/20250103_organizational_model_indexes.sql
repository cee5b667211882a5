-- 20250103_organizational_model_indexes.sql (runbook 2.1, script 3 of 3): the indexes behind
-- the organization-scoped queries. Built inside the maintenance window, in the migration's
-- transaction (plain CREATE INDEX: the tables are small and the application is down).
-- migrun:allow require-concurrent-index runbook 2.1 builds it inside the maintenance window, in the migration's transaction, on small tables with the application down
CREATE INDEX IF NOT EXISTS idx_profiles_organization_id ON profiles (organization_id);
-- migrun:allow require-concurrent-index runbook 2.1 builds it inside the maintenance window, in the migration's transaction, on small tables with the application down
CREATE INDEX IF NOT EXISTS idx_profiles_roles ON profiles USING gin (roles);
CREATE INDEX IF NOT EXISTS idx_practitioner_assignments_supervisor
  ON practitioner_assignments (supervisor_id) WHERE active;
CREATE INDEX IF NOT EXISTS idx_practitioner_assignments_practitioner
  ON practitioner_assignments (practitioner_id);
CREATE INDEX IF NOT EXISTS idx_practitioner_assignments_organization
  ON practitioner_assignments (organization_id);

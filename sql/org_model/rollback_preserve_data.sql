-- Extended rollback, "Data Preservation Rollback" (issues discovered later): keep a copy of
-- everything the organizational model holds, then revert the core schema. Three tables stay
-- behind as the preserved data:
--   organizations_backup             the organizations (the default one, and any created since)
--   practitioner_assignments_backup  every assignment
--   profiles_organization_backup     each profile's organization_id, roles, is_active,
--                                    last_activity (the columns removed below)
-- Backup tables left by an earlier rollback (migrated again since) are added to, never
-- overwritten.
-- sponsor_practitioner_relationships needs no restore: the migration never wrote to it (the
-- playbook protects it).

CREATE TABLE IF NOT EXISTS organizations_backup AS TABLE organizations WITH NO DATA;
INSERT INTO organizations_backup
SELECT o.* FROM organizations o
WHERE NOT EXISTS (SELECT 1 FROM organizations_backup b WHERE b.id = o.id);

CREATE TABLE IF NOT EXISTS practitioner_assignments_backup AS TABLE practitioner_assignments WITH NO DATA;
INSERT INTO practitioner_assignments_backup
SELECT a.* FROM practitioner_assignments a
WHERE NOT EXISTS (SELECT 1 FROM practitioner_assignments_backup b WHERE b.id = a.id);

CREATE TABLE IF NOT EXISTS profiles_organization_backup AS
  SELECT id AS profile_id, organization_id, roles, is_active, last_activity FROM profiles
  WITH NO DATA;
INSERT INTO profiles_organization_backup (profile_id, organization_id, roles, is_active, last_activity)
SELECT p.id, p.organization_id, p.roles, p.is_active, p.last_activity FROM profiles p
WHERE NOT EXISTS (SELECT 1 FROM profiles_organization_backup b WHERE b.profile_id = p.id);

-- revert profiles (their indexes and the roles check go with the columns)
ALTER TABLE profiles
  DROP COLUMN IF EXISTS organization_id,
  DROP COLUMN IF EXISTS roles,
  DROP COLUMN IF EXISTS is_active,
  DROP COLUMN IF EXISTS last_activity;

DROP TABLE IF EXISTS practitioner_assignments;
DROP TABLE IF EXISTS organizations;

-- the data isolation's helpers (their policies went with the tables)
DROP FUNCTION IF EXISTS public.current_organization_id();
DROP FUNCTION IF EXISTS public.current_profile_id();

-- the application's switches for features that no longer exist
DELETE FROM feature_flags WHERE flag_name IN ('organizational_model', 'multi_role_support');

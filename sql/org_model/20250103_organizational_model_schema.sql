-- 20250103_organizational_model_schema.sql (runbook 2.1, script 1 of 3): the core schema of
-- the organizational model. Idempotent: every object is created only if it is missing.

-- organizations: every user belongs to one
CREATE TABLE IF NOT EXISTS organizations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
  primary_color text CHECK (primary_color ~ '^#[0-9A-Fa-f]{6}$'),
  secondary_color text CHECK (secondary_color ~ '^#[0-9A-Fa-f]{6}$'),
  subscription_tier text NOT NULL DEFAULT 'free'
    CHECK (subscription_tier IN ('free', 'team', 'enterprise', 'legacy')),
  max_users integer NOT NULL DEFAULT 25 CHECK (max_users > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- who supervises whom, in which organization and role (replaces the sponsor relationships
-- as the source of truth for dashboards; sponsor_practitioner_relationships stays as it is)
CREATE TABLE IF NOT EXISTS practitioner_assignments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  practitioner_id uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
  supervisor_id uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
  supervisor_role text NOT NULL CHECK (supervisor_role IN ('coach', 'mentor', 'admin')),
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  assigned_at timestamptz NOT NULL DEFAULT now(),
  active boolean NOT NULL DEFAULT true,
  UNIQUE (practitioner_id, supervisor_id, organization_id),
  CHECK (practitioner_id <> supervisor_id)
);

-- profiles: organization, roles, activity (nullable: the data script fills them)
-- migrun:allow constraint-missing-not-valid runbook 2.1 builds it inside the maintenance window, in the migration's transaction, on small tables with the application down; the new column is all NULL
ALTER TABLE profiles
  ADD COLUMN IF NOT EXISTS organization_id uuid REFERENCES organizations (id) ON DELETE RESTRICT,
  ADD COLUMN IF NOT EXISTS roles text[],
  ADD COLUMN IF NOT EXISTS is_active boolean DEFAULT true,
  ADD COLUMN IF NOT EXISTS last_activity timestamptz;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                 WHERE conrelid = 'profiles'::regclass AND conname = 'profiles_roles_check') THEN
    ALTER TABLE profiles ADD CONSTRAINT profiles_roles_check
      CHECK (roles <@ ARRAY['coach', 'practitioner', 'mentor', 'admin']);
  END IF;
END
$$;

-- the application's switches for the new features: present, off until it is deployed
INSERT INTO feature_flags (flag_name, enabled, description) VALUES
  ('organizational_model', false, 'Organizations, coach dashboards, organization context'),
  ('multi_role_support', false, 'Users may hold several roles')
ON CONFLICT (flag_name) DO NOTHING;

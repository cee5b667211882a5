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

-- data isolation (runbook 3.2, "test data isolation and permissions"): through the API, a
-- user reads the organization they belong to and the assignments they are part of (as the
-- practitioner or the supervisor), nothing of another organization, and writes neither
-- (assignments are made by the service). The request's user is the JWT's subject, as
-- PostgREST sets it; the tables' owner (the migration, the service) is not subject to it.
CREATE OR REPLACE FUNCTION public.current_profile_id() RETURNS uuid
  LANGUAGE sql STABLE
  AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;

-- security definer: a policy that read profiles as the user would need a policy on profiles
CREATE OR REPLACE FUNCTION public.current_organization_id() RETURNS uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ SELECT organization_id FROM public.profiles WHERE id = public.current_profile_id() $$;

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE practitioner_assignments ENABLE ROW LEVEL SECURITY;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_policy
                 WHERE polrelid = 'organizations'::regclass AND polname = 'organizations_own') THEN
    CREATE POLICY organizations_own ON organizations FOR SELECT
      USING (id = public.current_organization_id());
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_policy
                 WHERE polrelid = 'practitioner_assignments'::regclass
                   AND polname = 'practitioner_assignments_involved') THEN
    CREATE POLICY practitioner_assignments_involved ON practitioner_assignments FOR SELECT
      USING (organization_id = public.current_organization_id()
             AND public.current_profile_id() IN (practitioner_id, supervisor_id));
  END IF;
END
$$;

-- the application's switches for the new features: present, off until it is deployed
INSERT INTO feature_flags (flag_name, enabled, description) VALUES
  ('organizational_model', false, 'Organizations, coach dashboards, organization context'),
  ('multi_role_support', false, 'Users may hold several roles')
ON CONFLICT (flag_name) DO NOTHING;

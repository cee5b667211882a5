-- 20250103_organizational_model_data.sql (runbook 2.1, script 2 of 3; 2.2-2.4): every user
-- into a default organization, roles from the sponsor relationships, sponsor relationships
-- into coach assignments. Idempotent: a second run finds the organization, no profile without
-- one, and every assignment in place.

-- 2.2 the default organization of all existing users ("Individual Users", legacy tier, room
-- for 1000)
INSERT INTO organizations (id, name, slug, primary_color, secondary_color, subscription_tier,
                           max_users, created_at)
VALUES (gen_random_uuid(), 'Individual Users', 'individual-users', '#5F4339', '#A8A29E', 'legacy',
        1000, now())
ON CONFLICT (slug) DO NOTHING;

-- 2.3 users: anyone who ever sponsored someone (active relationship or not) is a coach,
-- everyone else a practitioner; last_activity = last sign-in, else sign-up
UPDATE profiles
SET organization_id = (SELECT id FROM organizations WHERE slug = 'individual-users'),
    roles = CASE
              WHEN id IN (SELECT DISTINCT sponsor_id FROM sponsor_practitioner_relationships)
              THEN ARRAY['coach']
              ELSE ARRAY['practitioner']
            END,
    is_active = true,
    last_activity = COALESCE(last_sign_in_at, created_at)
WHERE organization_id IS NULL;

-- 2.4 each active sponsor relationship becomes an active coach assignment
INSERT INTO practitioner_assignments (practitioner_id, supervisor_id, supervisor_role,
                                      organization_id, assigned_at, active)
SELECT spr.practitioner_id,
       spr.sponsor_id,
       'coach',
       (SELECT id FROM organizations WHERE slug = 'individual-users'),
       spr.created_at,
       true
FROM sponsor_practitioner_relationships spr
WHERE spr.active = true
ON CONFLICT (practitioner_id, supervisor_id, organization_id) DO NOTHING;
